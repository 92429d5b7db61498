"""The one error type and its JSON shape.

Every 4xx and 5xx answer has the body
`{"error": {"code": "...", "message": "...", "request_id": "..."}}`, with `details` added
only for input validation. Services raise `DarvazaError` subclasses; they know nothing of
HTTP beyond the status each one maps to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from starlette.exceptions import HTTPException


def N_(message: str) -> str:
    """Marks a message people read (a refusal, a label) for the console's catalogs
    (`make messages`); it is translated where it is shown, and stays English in the API."""
    return message


@dataclass(frozen=True)
class Phrase:
    """A sentence people read, kept as its catalog message (`N_`) and the values that fill
    its `%(name)s`: in English where it is written out (the API, the CLI, Markdown), and in
    the reader's language where the console shows it (`console.render.say`, which also
    writes numbers and times the reader's way). A value may be a phrase itself."""

    message: str
    values: Mapping[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        if not self.values:
            return self.message
        return self.message % {name: _plain(value) for name, value in self.values.items()}


def _plain(value: object) -> str:
    if isinstance(value, datetime):
        return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return str(value)


# The code clients see for a bare HTTP status (a Starlette 404 or 405, for example).
CODE_FOR_STATUS: dict[int, str] = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    502: "gateway_error",
    503: "unavailable",
}


class ErrorDetail(BaseModel):
    field: str
    message: str
    type: str


class ErrorInfo(BaseModel):
    code: str
    message: str
    request_id: str | None
    details: list[ErrorDetail] | None = None


class ErrorOut(BaseModel):
    """The one error shape, as the contract declares it."""

    error: ErrorInfo


def refuses(**why: str) -> dict[int | str, dict[str, Any]]:
    """A route's own refusals for its `responses=`, by status: `refuses(_409="…")`. The
    app's contract gives each the error shape (`security.openapi.annotate_openapi`)."""
    return {int(status.lstrip("_")): {"description": text} for status, text in why.items()}


# The content of an answer that is a page for a person, not the error shape.
HTML_PAGE: dict[str, Any] = {"text/html": {"schema": {"type": "string"}}}
# Paths whose answers are pages for people: a refusal is a page too when the client asks
# for text/html (a browser), and the error shape otherwise.
PAGES_PREFIX = "/console"
UNKNOWN_LINK = "No link has this token (it is well-formed, but names nothing)."
SPENT_LINK = "The link was used already, or has expired."
RATE_LIMITED = "Too many requests from this caller or address; Retry-After says when to try."


def validation_details(
    errors: Sequence[Mapping[str, Any]], *, prefix: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Pydantic's errors as the error shape lists them: each field, message and type. The
    offending input is left out: it may be a password."""
    return [
        {
            "field": ".".join((*prefix, *(str(part) for part in err.get("loc", ())))),
            "message": err.get("msg", "invalid"),
            "type": err.get("type", "invalid"),
        }
        for err in errors
    ]


def code_for_status(status_code: int) -> str:
    if status_code in CODE_FOR_STATUS:
        return CODE_FOR_STATUS[status_code]
    return "server_error" if status_code >= 500 else "bad_request"


def error_body(
    code: str,
    message: str,
    request_id: str | None,
    details: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "request_id": request_id}
    if details:
        error["details"] = details
    return {"error": error}


class DarvazaError(Exception):
    """A refusal the caller can act on. Subclasses fix the status; `code` may be narrowed."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.headers = headers or {}
        self.details = details


class Unauthenticated(DarvazaError):
    status_code = 401
    code = "unauthenticated"


class LoginRequired(DarvazaError):
    """A page's visitor is not signed in: the app answers with a redirect to `location`."""

    status_code = 303
    code = "login_required"

    def __init__(self, location: str) -> None:
        super().__init__("Sign in first.", headers={"Location": location})


class Forbidden(DarvazaError):
    status_code = 403
    code = "forbidden"


class NotFound(DarvazaError):
    status_code = 404
    code = "not_found"


class Conflict(DarvazaError):
    status_code = 409
    code = "conflict"


class Gone(DarvazaError):
    status_code = 410
    code = "gone"


class PayloadTooLarge(DarvazaError):
    status_code = 413
    code = "payload_too_large"


class BodyTooLarge(PayloadTooLarge, HTTPException):  # type: ignore[misc]  # (headers: a dict here)
    """A body past its route's limit, found while it is read. FastAPI passes on an
    `HTTPException` raised there to the error handlers (anything else becomes its own
    400), so this refusal is both; the handlers see a `DarvazaError`."""

    def __init__(self, limit: int) -> None:
        message = f"The request body is larger than the limit of {limit} bytes."
        Exception.__init__(self, message)
        self.message, self.detail = message, message
        self.headers, self.details = {}, None


class InvalidInput(DarvazaError):
    status_code = 422
    code = "validation_error"


class RateLimited(DarvazaError):
    status_code = 429
    code = "rate_limited"


class GatewayFailed(DarvazaError):
    """The payment gateway refused or did not answer."""

    status_code = 502
    code = "gateway_error"


class Unavailable(DarvazaError):
    status_code = 503
    code = "unavailable"
