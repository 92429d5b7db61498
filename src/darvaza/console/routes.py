"""Console pages. Signing in here sets an HttpOnly, SameSite=Lax session cookie (Secure
outside `local`); every form that changes something carries the session's CSRF token,
which the policy dependency checks."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from darvaza.errors import (
    HTML_PAGE,
    RATE_LIMITED,
    SPENT_LINK,
    UNKNOWN_LINK,
    DarvazaError,
    Unauthenticated,
    refuses,
)
from darvaza.http import PartsDep, client_ip, part
from darvaza.identity import service as identity
from darvaza.params import ONE_TIME_TOKEN
from darvaza.security.policy import (
    CONSOLE_SIGNED_IN,
    PUBLIC,
    SESSION_COOKIE,
    Access,
    Requires,
    csrf_token_for,
)
from darvaza.security.ratelimit import RatesDep
from darvaza.tenants.service import accept_invitation

router = APIRouter(prefix="/console", tags=["console"])
SessionPolicyDep = Annotated[identity.SessionPolicy, part(identity.SessionPolicy)]
MailedTokensDep = Annotated[identity.MailedTokens, part(identity.MailedTokens)]
LoginThrottleDep = Annotated[identity.LoginThrottle, part(identity.LoginThrottle)]
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

Token = Annotated[str, Query(max_length=100)]
# A form sends an empty field as "", which the framework reads as missing: required fields
# say so with a minimum length.
FormToken = Annotated[str, Form(pattern=ONE_TIME_TOKEN)]
FormEmail = Annotated[
    str, Form(min_length=3, max_length=320, json_schema_extra={"format": "email"})
]
FormPassword = Annotated[str, Form(min_length=1, max_length=1024)]
FormCsrf = Annotated[str, Form(max_length=100)]
ConsoleUser = Annotated[Access, Requires(CONSOLE_SIGNED_IN)]

EXPIRED = "The form expired, or did not come from Darvaza (the form again)."
# What a client that does not ask for HTML gets for a refusal raised before the page.
_ERROR_SHAPE = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}


def page_refusals(**why: str) -> dict[int | str, dict[str, Any]]:
    """A page's refusals for `responses=`: each is the page again, saying what is wrong."""
    return {
        status: {**answer, "content": {**HTML_PAGE, **_ERROR_SHAPE}}
        for status, answer in refuses(**why).items()
    }


@dataclass(frozen=True)
class FormCookie:
    """A double-submit CSRF cookie for forms shown before sign-in: its name and path."""

    name: str
    path: str


# Before sign-in there is no session to bind a CSRF token to, so these forms use a
# double-submit cookie: a random value in a cookie that must match the form's field.
LOGIN_FORM = FormCookie("darvaza_login_csrf", "/console/login")
# The same for the other forms reached before sign-in (the links people get by mail).
LINK_FORMS = FormCookie("darvaza_form_csrf", "/console")


def _public_form(
    request: Request, parts: PartsDep, template: str, context: dict[str, object],
    *, status_code: int = 200, cookie: FormCookie = LINK_FORMS,
) -> HTMLResponse:  # fmt: skip
    token = secrets.token_urlsafe(32)
    response = templates.TemplateResponse(
        request, template, {**context, "csrf_token": token}, status_code=status_code
    )
    response.set_cookie(
        cookie.name, token, httponly=True, samesite="strict",
        secure=parts.settings.cookies_secure, path=cookie.path,
    )  # fmt: skip
    return response


def _form_came_from_us(request: Request, csrf_token: str, cookie: FormCookie = LINK_FORMS) -> bool:
    expected = request.cookies.get(cookie.name, "")
    return bool(expected) and hmac.compare_digest(expected, csrf_token)


def _login_page(
    request: Request, parts: PartsDep, *, error: str | None = None, email: str = "",
    status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    return _public_form(
        request, parts, "login.html", {"error": error, "email": email},
        status_code=status_code, cookie=LOGIN_FORM,
    )  # fmt: skip


STYLESHEET = (Path(__file__).parent / "static" / "console.css").read_bytes()


@router.get(
    "/assets/console.css",
    dependencies=[Requires(PUBLIC)],
    responses={200: {"content": {"text/css": {"schema": {"type": "string"}}}}},
)
def stylesheet() -> Response:
    # Served by Darvaza itself: the content security policy allows no inline style.
    return Response(
        STYLESHEET, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"}
    )


@router.get("/login", response_class=HTMLResponse, dependencies=[Requires(PUBLIC)])
def login_page(request: Request, parts: PartsDep) -> HTMLResponse:
    return _login_page(request, parts)


@router.post(
    "/login",
    response_class=HTMLResponse,
    dependencies=[Requires(PUBLIC)],
    status_code=status.HTTP_303_SEE_OTHER,
    responses=page_refusals(
        _401="The email or password is wrong (the form again).", _403=EXPIRED, _429=RATE_LIMITED
    ),
)
def login(
    request: Request,
    parts: PartsDep,
    session_policy: SessionPolicyDep,
    throttle: LoginThrottleDep,
    email: FormEmail,
    password: FormPassword,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    if not _form_came_from_us(request, csrf_token, LOGIN_FORM):
        return _login_page(
            request, parts, error="The form expired; please try again.", email=email,
            status_code=status.HTTP_403_FORBIDDEN,
        )  # fmt: skip
    try:
        new = identity.login(
            parts.db,
            email=email,
            password=password,
            policy=session_policy,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
            throttle=throttle,
        )
    except Unauthenticated as exc:
        return _login_page(
            request, parts, error=exc.message, email=email,
            status_code=status.HTTP_401_UNAUTHORIZED,
        )  # fmt: skip
    response = RedirectResponse("/console/", status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        new.token,
        max_age=int(session_policy.absolute.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=parts.settings.cookies_secure,
        path="/",
    )
    response.delete_cookie(LOGIN_FORM.name, path=LOGIN_FORM.path)
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, access: ConsoleUser, parts: PartsDep) -> HTMLResponse:
    caller = access.user
    tenants = caller.tenants
    return templates.TemplateResponse(
        request,
        "home.html",
        {
            "email": caller.email,
            "role": caller.platform_role.value if caller.platform_role else "no platform role",
            "tenants": [
                {"name": tenants[tid].name, "slug": tenants[tid].slug, "role": role.value}
                for tid, role in caller.tenant_roles.items()
                if tid in tenants
            ],
            "csrf_token": csrf_token_for(parts.settings.effective_secret_key, caller.credential_id),
        },
    )


@router.post("/logout")
def logout(access: ConsoleUser, parts: PartsDep) -> Response:
    identity.logout(parts.db, access.user)
    response = RedirectResponse("/console/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- The pages mailed links lead to ------------------------------------------------------


def _message(
    request: Request, heading: str, *, message: str = "", error: str = "", status_code: int = 200
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "message.html",
        {"heading": heading, "message": message, "error": error},
        status_code=status_code,
    )


def error_page(
    request: Request,
    status_code: int,
    message: str,
    request_id: str | None,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """A refusal under the console, as a page: what went wrong, and the request id to
    quote when asking for help."""
    return templates.TemplateResponse(
        request,
        "error.html",
        {
            "heading": HTTPStatus(status_code).phrase,
            "message": message,
            "request_id": request_id,
        },
        status_code=status_code,
        headers=dict(headers or {}),
    )


EXPIRED_FORM = "The form expired; please try again."


@router.get("/reset-password", response_class=HTMLResponse, dependencies=[Requires(PUBLIC)])
def reset_password_page(request: Request, parts: PartsDep, token: Token = "") -> HTMLResponse:
    """Ask for a reset link (no token), or choose the new password (the link's token)."""
    return _public_form(request, parts, "reset_password.html", {"token": token})


@router.post(
    "/reset-password",
    response_class=HTMLResponse,
    dependencies=[Requires(PUBLIC)],
    responses=page_refusals(_403=EXPIRED, _422="That is no address.", _429=RATE_LIMITED),
)
def reset_password_request(
    request: Request,
    parts: PartsDep,
    rates: RatesDep,
    mailed_tokens: MailedTokensDep,
    email: FormEmail,
    csrf_token: FormCsrf = "",
) -> HTMLResponse:
    if not _form_came_from_us(request, csrf_token):
        return _public_form(
            request, parts, "reset_password.html", {"error": EXPIRED_FORM}, status_code=403
        )
    try:
        rates.limiter.hit(rates.rules.password_reset_per_ip, client_ip(request))
        rates.limiter.hit(rates.rules.password_reset_per_email, identity.email_key(email))
        identity.request_password_reset(parts.db, email=email, mailed=mailed_tokens)
    except DarvazaError as exc:
        return _message(
            request, "Reset your password", error=exc.message, status_code=exc.status_code
        )
    return _message(
        request, "Check your email", message="If the address has an account, a link is on its way."
    )


@router.post(
    "/reset-password/confirm",
    response_class=HTMLResponse,
    dependencies=[Requires(PUBLIC)],
    responses=page_refusals(
        _403=EXPIRED, _404=UNKNOWN_LINK, _410=SPENT_LINK, _422="The password is too weak."
    ),
)
def reset_password_confirm(
    request: Request,
    parts: PartsDep,
    token: FormToken,
    new_password: FormPassword,
    csrf_token: FormCsrf = "",
) -> HTMLResponse:
    context: dict[str, object] = {"token": token}
    if not _form_came_from_us(request, csrf_token):
        return _public_form(
            request, parts, "reset_password.html", {**context, "error": EXPIRED_FORM},
            status_code=403,
        )  # fmt: skip
    try:
        identity.reset_password(
            parts.db,
            token=token,
            new_password=new_password,
            min_length=parts.settings.password_min_length,
        )
    except DarvazaError as exc:
        return _public_form(
            request, parts, "reset_password.html", {**context, "error": exc.message},
            status_code=exc.status_code,
        )  # fmt: skip
    return _message(
        request, "Password changed", message="Sign in with your new password; other sessions ended."
    )


@router.get("/verify-email", response_class=HTMLResponse, dependencies=[Requires(PUBLIC)])
def verify_email_page(request: Request, parts: PartsDep, token: Token = "") -> HTMLResponse:
    """A button, not an action: mail scanners that open links must not spend the token."""
    return _public_form(
        request, parts, "confirm_token.html",
        {"heading": "Confirm your address", "message": "Confirm that this address is yours.",
         "action": "/console/verify-email", "button": "Confirm", "token": token},
    )  # fmt: skip


@router.post(
    "/verify-email",
    response_class=HTMLResponse,
    dependencies=[Requires(PUBLIC)],
    responses=page_refusals(_403=EXPIRED, _404=UNKNOWN_LINK, _410=SPENT_LINK),
)
def verify_email(
    request: Request, parts: PartsDep, token: FormToken, csrf_token: FormCsrf = ""
) -> HTMLResponse:
    if not _form_came_from_us(request, csrf_token):
        return _message(request, "Confirm your address", error=EXPIRED_FORM, status_code=403)
    try:
        identity.verify_email(parts.db, token=token)
    except DarvazaError as exc:
        return _message(
            request, "Confirm your address", error=exc.message, status_code=exc.status_code
        )
    return _message(request, "Address confirmed", message="Thank you: you can pay for plans now.")


@router.get("/invitations", response_class=HTMLResponse)
def invitation_page(
    request: Request, access: ConsoleUser, parts: PartsDep, token: Token = ""
) -> HTMLResponse:
    caller = access.user
    return templates.TemplateResponse(
        request,
        "confirm_token.html",
        {
            "heading": "An invitation",
            "message": f"Accept the invitation sent to {caller.email}?",
            "action": "/console/invitations/accept",
            "button": "Accept",
            "token": token,
            "csrf_token": csrf_token_for(parts.settings.effective_secret_key, caller.credential_id),
        },
    )


@router.post(
    "/invitations/accept",
    response_class=HTMLResponse,
    responses=page_refusals(
        _403="The invitation is for another address.",
        _404=UNKNOWN_LINK,
        _409="Already staff.",
        _410=SPENT_LINK,
        _422="The link is not one Darvaza made.",
    ),
)
def accept_invitation_page(
    request: Request, access: ConsoleUser, parts: PartsDep, token: FormToken
) -> HTMLResponse:
    try:
        membership = accept_invitation(
            parts.db, user_id=access.user.user_id, email=access.user.email, token=token
        )
    except DarvazaError as exc:
        return _message(request, "An invitation", error=exc.message, status_code=exc.status_code)
    return _message(
        request, "Invitation accepted", message=f"You now manage {membership.tenant.name}."
    )
