"""Console forms: reading one against the API's own schema, showing its errors next to
their fields in the person's language, and doing a form's action once however often it is
sent.

A page's form is checked by the same pydantic schema the API takes, so a page and an API
call refuse the same input. What was typed is kept to show again, except secrets.
"""

from __future__ import annotations

import hmac
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, TypeVar

from annotated_types import MaxLen
from fastapi import Depends, Request, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from darvaza.clock import utcnow
from darvaza.console.models import FormUse
from darvaza.db import Database
from darvaza.errors import N_, DarvazaError, InvalidInput, Phrase
from darvaza.security.caller import Caller

M = TypeVar("M", bound=BaseModel)

# Fields every console form carries besides its own.
CSRF_FIELD = "csrf_token"
FORM_ID_FIELD = "form_id"
MAX_FORM_ID = 64
# Fields never shown again after a failed submission.
SECRET_FIELDS = frozenset({"password", "current_password", "new_password"})

# How a field's problem reads, by pydantic's error type; `%(...)s` from its context.
_FIELD_MESSAGES = {
    "missing": N_("This is required."),
    "string_too_short": N_("At least %(min_length)s characters."),
    "string_too_long": N_("At most %(max_length)s characters."),
    "string_pattern_mismatch": N_("This is not in the expected form."),
    "int_parsing": N_("Enter a whole number."),
    "int_type": N_("Enter a whole number."),
    "int_from_float": N_("Enter a whole number."),
    "greater_than": N_("Must be more than %(gt)s."),
    "greater_than_equal": N_("Must be at least %(ge)s."),
    "less_than": N_("Must be less than %(lt)s."),
    "less_than_equal": N_("Must be at most %(le)s."),
    "enum": N_("Choose one of the options."),
    "literal_error": N_("Choose one of the options."),
    "bool_parsing": N_("Choose yes or no."),
    "uuid_parsing": N_("This is not in the expected form."),
}
_INVALID = N_("This value is not valid.")
# Persian and Arabic-Indic digits read as digits; thousands separators dropped.
_DIGITS = str.maketrans(
    "".join(chr(0x06F0 + n) for n in range(10)) + "".join(chr(0x0660 + n) for n in range(10)),
    "0123456789" * 2,
    ", \u066c",
)


class FieldError(Phrase):
    """One problem with one field: a catalog message and what fills it."""

    @classmethod
    def refused(cls, message: str, status_code: int) -> FieldError:
        """A refusal of the whole form (or page), shown as its status says when the
        catalog has no words of its own for `message` (`render.say`)."""
        return cls(message, {"_status": status_code})


@dataclass
class FormState:
    """A form as shown again: the values typed, and the problems by field (the form's
    own problems, not tied to a field, under "")."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, list[FieldError]] = field(default_factory=dict)

    def add(self, name: str, error: FieldError) -> None:
        self.errors.setdefault(name, []).append(error)

    def fail(self, message: str, status_code: int) -> None:
        """A problem with the whole form, answered with `status_code`."""
        self.add("", FieldError.refused(message, status_code))

    def refuse(self, exc: DarvazaError) -> None:
        """A service's refusal: its details by field where it names one, else the whole
        form's message."""
        named = False
        for detail in exc.details or ():
            name = str(detail.get("field", "")).removeprefix("body.")
            if name in self.values or name in self.errors:
                self.add(name, _field_error(str(detail.get("type", "")), {}))
                named = True
        if not named:
            self.fail(exc.message, exc.status_code)

    @property
    def failed(self) -> bool:
        return bool(self.errors)


def _field_error(kind: str, context: Mapping[str, Any]) -> FieldError:
    message = _FIELD_MESSAGES.get(kind, _INVALID)
    return FieldError(message, {key: value for key, value in context.items() if key != "error"})


def _is_number(annotation: Any) -> bool:
    if annotation in (int, float):
        return True
    return any(_is_number(arg) for arg in typing.get_args(annotation))


async def read_form(request: Request) -> dict[str, str]:
    """The posted fields as text (files are read by the pages that take them)."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


FormFields = Annotated[dict[str, str], Depends(read_form)]


async def read_form_lists(request: Request) -> dict[str, list[str]]:
    """Every value of each posted field (checkboxes send one field per box ticked)."""
    form = await request.form()
    found: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            found.setdefault(key, []).append(value)
    return found


FormLists = Annotated[dict[str, list[str]], Depends(read_form_lists)]


def check_form(
    model: type[M], fields: Mapping[str, str], *, extra: Mapping[str, object] | None = None
) -> tuple[M | None, FormState]:
    """`fields` checked by `model`: the model, or None and the problems. Empty fields count
    as not given (an optional one takes its default); numbers may be typed in Persian or
    Arabic digits and with separators."""
    state = FormState(
        values={
            name: value
            for name, value in fields.items()
            if name not in SECRET_FIELDS and name not in (CSRF_FIELD, FORM_ID_FIELD)
        }
    )
    given: dict[str, object] = {}
    too_long: set[str] = set()
    for name, info in model.model_fields.items():
        sent = fields.get(name, "")
        # The published form's limit is on what is sent, spaces around it included.
        limit = _max_length(info.metadata)
        if limit is not None and len(sent) > limit:
            state.add(name, _field_error("string_too_long", {"max_length": limit}))
            too_long.add(name)
            continue
        raw = sent.strip() if name not in SECRET_FIELDS else sent
        if raw == "":
            continue
        given[name] = raw.translate(_DIGITS) if _is_number(info.annotation) else raw
    given.update(extra or {})
    if len(fields.get(FORM_ID_FIELD, "")) > MAX_FORM_ID:
        state.fail(N_("The form expired; please try again."), 422)
    try:
        found = model.model_validate(given)
    except ValidationError as exc:
        for error in exc.errors():
            name = str(error["loc"][0]) if error.get("loc") else ""
            if name not in too_long:  # said already
                state.add(name, _field_error(error["type"], error.get("ctx") or {}))
        return None, state
    return (None if state.failed else found), state


def _max_length(metadata: list[Any]) -> int | None:
    limits = [rule.max_length for rule in metadata if isinstance(rule, MaxLen)]
    return min(limits) if limits else None


def form_body(model: type[BaseModel], *, blank_is_none: tuple[str, ...] = ()) -> dict[str, Any]:
    """The form a page takes, for the OpenAPI document (`openapi_extra=`): the API
    schema's fields, with the CSRF token and the form id every console form carries. A
    field left empty is left out, so an optional field (and each of `blank_is_none`, whose
    empty value means none) also takes the empty text."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    required = [name for name in schema.get("required", []) if name not in blank_is_none]
    properties: dict[str, Any] = {}
    for name, declared in schema.get("properties", {}).items():
        shape = _no_null(declared)
        properties[name] = shape if name in required else {"anyOf": [shape, _EMPTY]}
    properties |= {
        CSRF_FIELD: {"type": "string"},
        FORM_ID_FIELD: {"type": "string", "maxLength": MAX_FORM_ID},
    }
    body = {"type": "object", "properties": properties, "required": required}
    return {
        "requestBody": {
            # A form whose every field may be left out may be sent without a body.
            "required": bool(required),
            "content": {"application/x-www-form-urlencoded": {"schema": body}},
        }
    }


_EMPTY = {"type": "string", "maxLength": 0}


def _no_null(field: dict[str, Any]) -> dict[str, Any]:
    """A form field is absent or text, never null: the schema's null choice is dropped
    (an empty field is how a form leaves an optional value out)."""
    options = [option for option in field.get("anyOf", []) if option.get("type") != "null"]
    if len(options) != 1:
        return field
    kept: dict[str, Any] = {k: v for k, v in field.items() if k not in ("anyOf", "default")}
    return kept | dict(options[0])


# --- Doing a form's action once ---------------------------------------------------------


@dataclass(frozen=True)
class Done:
    """The page a form led to: first time or, for a form sent again, the first time's."""

    location: str
    replayed: bool = False


def once(
    db: Database,
    caller: Caller,
    fields: Mapping[str, str],
    action: Callable[[], str],
    *,
    pending: str,
) -> Done:
    """Runs `action` (which returns where to go next) unless this form was sent before;
    then answers with where the first sending led (or `pending`, while it still runs).
    A form without an id is acted on every time. An action that fails frees the id, so
    the form shown again with its errors can be sent again."""
    form_id = fields.get(FORM_ID_FIELD, "")
    if len(form_id) > MAX_FORM_ID:
        raise InvalidInput(f"A form id is at most {MAX_FORM_ID} characters.", code="invalid_form")
    if not form_id:
        return Done(action())
    previous = _claim(db, form_id, caller, utcnow())
    if previous is not None:
        return Done(previous or pending, replayed=True)
    try:
        location = action()
    except BaseException:
        with db.transaction() as session:
            session.execute(delete(FormUse).where(FormUse.form_id == form_id))
        raise
    with db.transaction() as session:
        session.execute(update(FormUse).where(FormUse.form_id == form_id).values(location=location))
    return Done(location)


def _claim(db: Database, form_id: str, caller: Caller, now: datetime) -> str | None:
    """None when this sending is the first (the id is now taken); else where the first
    led ("" while it runs). An id taken by another credential is someone else's form."""
    try:
        with db.transaction() as session:
            session.add(FormUse(form_id=form_id, credential_id=caller.credential_id, used_at=now))
        return None
    except IntegrityError:
        with db.read() as session:
            use = session.get(FormUse, form_id)
        if use is None:  # freed by a failed first sending in the meantime
            return _claim(db, form_id, caller, now)
        return (use.location or "") if use.credential_id == caller.credential_id else ""


# --- Forms shown before sign-in ---------------------------------------------------------


@dataclass(frozen=True)
class FormCookie:
    """A double-submit CSRF cookie for forms shown before sign-in: its name and path.

    Before sign-in there is no session to bind a CSRF token to, so these forms carry a
    random value that must match a cookie only our pages set."""

    name: str
    path: str

    def issue(self, response: Response, token: str, *, secure: bool) -> None:
        response.set_cookie(
            self.name, token, httponly=True, samesite="strict", secure=secure, path=self.path
        )

    def matches(self, request: Request, offered: str) -> bool:
        expected = request.cookies.get(self.name, "")
        return bool(expected) and hmac.compare_digest(expected, offered)


LOGIN_FORM = FormCookie("darvaza_login_csrf", "/console/login")
# The other forms reached before sign-in (the links people get by mail).
LINK_FORMS = FormCookie("darvaza_form_csrf", "/console")
