"""Identity's console pages for everyone: signing in and out, the links people get by
mail, the language, a person's own sessions and password.

Signing in sets an HttpOnly, SameSite=Lax session cookie (Secure outside `local`); every
form that changes something carries the session's CSRF token, which the policy checks.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from darvaza.config import Language
from darvaza.console.forms import (
    LINK_FORMS,
    LOGIN_FORM,
    FormCookie,
    FormFields,
    FormState,
    check_form,
    form_body,
)
from darvaza.console.i18n import LANGUAGE_COOKIE
from darvaza.console.render import Pages, page_refusals, safe_next, see_other
from darvaza.errors import (
    N_,
    RATE_LIMITED,
    SPENT_LINK,
    UNKNOWN_LINK,
    DarvazaError,
)
from darvaza.http import PartsDep, client_ip
from darvaza.identity import service
from darvaza.identity.routes import LoginThrottleDep, MailedTokensDep, SessionPolicyDep
from darvaza.identity.schemas import (
    LoginIn,
    PasswordChangeIn,
    PasswordResetConfirmIn,
    PasswordResetIn,
    TokenIn,
)
from darvaza.security.policy import (
    PUBLIC,
    SESSION_COOKIE,
    SIGNED_IN,
    Access,
    Requires,
)
from darvaza.security.ratelimit import RatesDep

router = APIRouter(prefix="/console", tags=["console"])
pages = Pages(Path(__file__).parents[1] / "templates")

SignedInPage = Annotated[Access, Requires(SIGNED_IN.for_pages())]
LinkToken = Annotated[str, Query(max_length=100)]
Next = Annotated[str, Query(max_length=500)]


EXPIRED = "The form expired, or did not come from Darvaza (the form again)."
EXPIRED_FORM = N_("The form expired; please try again.")


def _public_form(
    request: Request, parts: PartsDep, template: str, context: dict[str, object], *,
    status_code: int = 200, cookie: FormCookie = LINK_FORMS,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    token = secrets.token_urlsafe(32)
    response = pages.render(
        request, None, template, {**context, "csrf_token": token}, status_code=status_code,
        headers=headers,
    )  # fmt: skip
    cookie.issue(response, token, secure=parts.settings.cookies_secure)
    return response


def _message(
    request: Request, caller: Access | None, heading: str, *, message: str = "",
    error: str = "", status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    return pages.render(
        request, caller, "message.html",
        {"heading": heading, "message": message, "error": error, "values": {}},
        status_code=status_code,
    )  # fmt: skip


# --- Signing in and out ------------------------------------------------------------------


def _login_page(
    request: Request, parts: PartsDep, form: FormState | None = None, *, next_page: str = "",
    status_code: int = 200, headers: Mapping[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    return _public_form(
        request, parts, "login.html", {"form": form, "next": safe_next(next_page)},
        status_code=status_code, cookie=LOGIN_FORM, headers=headers,
    )  # fmt: skip


@router.get("/login", response_class=HTMLResponse, dependencies=[Requires(PUBLIC)])
def login_page(request: Request, parts: PartsDep, next: Next = "") -> HTMLResponse:
    return _login_page(request, parts, next_page=next)


@router.post(
    "/login",
    response_class=HTMLResponse,
    dependencies=[Requires(PUBLIC)],
    status_code=303,
    openapi_extra=form_body(LoginIn),
    responses=page_refusals(
        _401="The email or password is wrong (the form again).",
        _403=EXPIRED,
        _422="The form again, with what is wrong.",
        _429=RATE_LIMITED,
    ),
)
def login(
    request: Request,
    parts: PartsDep,
    session_policy: SessionPolicyDep,
    throttle: LoginThrottleDep,
    fields: FormFields,
) -> Response:
    next_page = fields.get("next", "")
    body, form = check_form(LoginIn, fields)
    if not LOGIN_FORM.matches(request, fields.get("csrf_token", "")):
        form.fail(EXPIRED_FORM, 403)
        return _login_page(request, parts, form, next_page=next_page, status_code=403)
    if body is None:
        return _login_page(request, parts, form, next_page=next_page, status_code=422)
    try:
        new = service.login(
            parts.db, email=body.email, password=body.password, policy=session_policy,
            ip=client_ip(request), user_agent=request.headers.get("user-agent"),
            throttle=throttle,
        )  # fmt: skip
    except DarvazaError as exc:
        form.refuse(exc)
        return _login_page(
            request, parts, form, next_page=next_page, status_code=exc.status_code,
            headers=exc.headers,
        )  # fmt: skip
    response = see_other(safe_next(next_page))
    secure = parts.settings.cookies_secure
    response.set_cookie(
        SESSION_COOKIE, new.token, max_age=int(session_policy.absolute.total_seconds()),
        httponly=True, samesite="lax", secure=secure, path="/",
    )  # fmt: skip
    chosen = service.user_by_id(parts.db, new.credential.user_id).language
    if chosen:
        _remember_language(response, chosen, secure=secure)
    response.delete_cookie(LOGIN_FORM.name, path=LOGIN_FORM.path)
    return response


@router.post("/logout", status_code=303, response_class=RedirectResponse)
def logout(access: SignedInPage, parts: PartsDep) -> Response:
    service.logout(parts.db, access.user)
    response = see_other("/console/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- The language ------------------------------------------------------------------------

_YEAR = 365 * 24 * 3600


def _remember_language(response: Response, language: str, *, secure: bool) -> None:
    response.set_cookie(
        LANGUAGE_COOKIE, language, max_age=_YEAR, samesite="lax", secure=secure, path="/"
    )


@router.post(
    "/language",
    status_code=303,
    response_class=RedirectResponse,
    dependencies=[],
    responses=page_refusals(_422="No such language."),
)
def choose_language(
    access: Annotated[Access, Requires(PUBLIC)],
    parts: PartsDep,
    language: Annotated[Language, Form()],
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """The console's language, for this browser and (signed in) for the person."""
    if access.caller is not None:
        service.set_language(parts.db, access.caller.user_id, language.value)
    response = see_other(safe_next(next) if next.startswith("/console/") else "/console/login")
    _remember_language(response, language.value, secure=parts.settings.cookies_secure)
    return response


# --- The pages mailed links lead to ------------------------------------------------------


@router.get("/reset-password", response_class=HTMLResponse, dependencies=[Requires(PUBLIC)])
def reset_password_page(request: Request, parts: PartsDep, token: LinkToken = "") -> HTMLResponse:
    """Ask for a reset link (no token), or choose the new password (the link's token)."""
    return _public_form(request, parts, "reset_password.html", {"token": token, "form": None})


@router.post(
    "/reset-password",
    response_class=HTMLResponse,
    dependencies=[Requires(PUBLIC)],
    openapi_extra=form_body(PasswordResetIn),
    responses=page_refusals(_403=EXPIRED, _422="That is no address.", _429=RATE_LIMITED),
)
def reset_password_request(
    request: Request, parts: PartsDep, rates: RatesDep, mailed_tokens: MailedTokensDep,
    fields: FormFields,
) -> HTMLResponse:  # fmt: skip
    body, form = check_form(PasswordResetIn, fields)
    if not LINK_FORMS.matches(request, fields.get("csrf_token", "")):
        form.fail(EXPIRED_FORM, 403)
        return _public_form(
            request, parts, "reset_password.html", {"token": "", "form": form}, status_code=403
        )
    if body is None:
        return _public_form(
            request, parts, "reset_password.html", {"token": "", "form": form}, status_code=422
        )
    try:
        rates.limiter.hit(rates.rules.password_reset_per_ip, client_ip(request))
        rates.limiter.hit(rates.rules.password_reset_per_email, service.email_key(body.email))
        service.request_password_reset(parts.db, email=body.email, mailed=mailed_tokens)
    except DarvazaError as exc:
        form.refuse(exc)
        return _public_form(
            request, parts, "reset_password.html", {"token": "", "form": form},
            status_code=exc.status_code,
        )  # fmt: skip
    return _message(
        request, None, N_("Check your email"),
        message=N_("If the address has an account, a link is on its way."),
    )  # fmt: skip


@router.post(
    "/reset-password/confirm",
    response_class=HTMLResponse,
    dependencies=[Requires(PUBLIC)],
    openapi_extra=form_body(PasswordResetConfirmIn),
    responses=page_refusals(
        _403=EXPIRED, _404=UNKNOWN_LINK, _410=SPENT_LINK, _422="The password is too weak."
    ),
)
def reset_password_confirm(request: Request, parts: PartsDep, fields: FormFields) -> HTMLResponse:
    token = fields.get("token", "")[:100]
    body, form = check_form(PasswordResetConfirmIn, fields)
    context: dict[str, object] = {"token": token, "form": form}
    if not LINK_FORMS.matches(request, fields.get("csrf_token", "")):
        form.fail(EXPIRED_FORM, 403)
        return _public_form(request, parts, "reset_password.html", context, status_code=403)
    if body is None:
        return _public_form(request, parts, "reset_password.html", context, status_code=422)
    try:
        service.reset_password(
            parts.db, token=body.token, new_password=body.new_password,
            min_length=parts.settings.password_min_length,
        )  # fmt: skip
    except DarvazaError as exc:
        form.refuse(exc)
        return _public_form(
            request, parts, "reset_password.html", context, status_code=exc.status_code
        )
    return _message(
        request, None, N_("Password changed"),
        message=N_("Sign in with your new password; your other sessions have ended."),
    )  # fmt: skip


@router.get("/verify-email", response_class=HTMLResponse, dependencies=[Requires(PUBLIC)])
def verify_email_page(request: Request, parts: PartsDep, token: LinkToken = "") -> HTMLResponse:
    """A button, not an action: mail scanners that open links must not spend the token."""
    return _public_form(request, parts, "verify_email.html", {"token": token, "form": None})


@router.post(
    "/verify-email",
    response_class=HTMLResponse,
    dependencies=[Requires(PUBLIC)],
    openapi_extra=form_body(TokenIn),
    responses=page_refusals(_403=EXPIRED, _404=UNKNOWN_LINK, _410=SPENT_LINK, _422="No token."),
)
def verify_email(request: Request, parts: PartsDep, fields: FormFields) -> HTMLResponse:
    body, form = check_form(TokenIn, fields)
    context: dict[str, object] = {"token": fields.get("token", "")[:100], "form": form}
    if not LINK_FORMS.matches(request, fields.get("csrf_token", "")):
        form.fail(EXPIRED_FORM, 403)
        return _public_form(request, parts, "verify_email.html", context, status_code=403)
    if body is None:
        return _public_form(request, parts, "verify_email.html", context, status_code=422)
    try:
        service.verify_email(parts.db, token=body.token)
    except DarvazaError as exc:
        form.refuse(exc)
        return _public_form(
            request, parts, "verify_email.html", context, status_code=exc.status_code
        )
    return _message(
        request, None, N_("Address confirmed"), message=N_("Thank you: you can pay for plans now.")
    )


# --- A person's own sessions and password -------------------------------------------------


@router.get("/me/sessions", response_class=HTMLResponse)
def my_sessions(
    request: Request, access: SignedInPage, parts: PartsDep, session_policy: SessionPolicyDep
) -> HTMLResponse:
    found = service.list_sessions(parts.db, access.user, session_policy)
    return pages.render(
        request, access, "sessions.html",
        {"sessions": found, "current": access.user.credential_id},
    )  # fmt: skip


@router.post(
    "/me/sessions/{session_id:uuid}/end",
    status_code=303,
    response_class=RedirectResponse,
    responses=page_refusals(_404="Not one of your sessions."),
)
def end_session(session_id: uuid.UUID, access: SignedInPage, parts: PartsDep) -> Response:
    service.revoke_session(parts.db, access.user, session_id)
    if session_id == access.user.credential_id:
        response = see_other("/console/login")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
    return see_other("/console/me/sessions")


@router.post("/me/sessions/end-others", status_code=303, response_class=RedirectResponse)
def end_other_sessions(access: SignedInPage, parts: PartsDep) -> Response:
    service.revoke_other_sessions(parts.db, access.user)
    return see_other("/console/me/sessions?ended=1")


@router.get("/me/password", response_class=HTMLResponse)
def password_page(request: Request, access: SignedInPage) -> HTMLResponse:
    return pages.render(request, access, "password.html", {"form": None, "done": False})


@router.post(
    "/me/password",
    response_class=HTMLResponse,
    openapi_extra=form_body(PasswordChangeIn),
    responses=page_refusals(
        _401="The current password is wrong (the form again).",
        _422="The form again, with what is wrong.",
    ),
)
def change_password(
    request: Request, access: SignedInPage, parts: PartsDep, fields: FormFields
) -> HTMLResponse:
    body, form = check_form(PasswordChangeIn, fields)
    if body is not None:
        try:
            service.change_password(
                parts.db, user_id=access.user.user_id, credential_id=access.user.credential_id,
                current_password=body.current_password, new_password=body.new_password,
                min_length=parts.settings.password_min_length,
            )  # fmt: skip
            return pages.render(request, access, "password.html", {"form": None, "done": True})
        except DarvazaError as exc:
            form.refuse(exc)
            return pages.render(
                request, access, "password.html", {"form": form, "done": False},
                status_code=exc.status_code,
            )  # fmt: skip
    return pages.render(
        request, access, "password.html", {"form": form, "done": False}, status_code=422
    )
