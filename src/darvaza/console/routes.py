"""Console pages. Signing in here sets an HttpOnly, SameSite=Lax session cookie (Secure
outside `local`); every form that changes something carries the session's CSRF token,
which the policy dependency checks."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from darvaza.errors import Unauthenticated
from darvaza.identity import sessions
from darvaza.identity.routes import client_ip
from darvaza.runtime import RuntimeDep
from darvaza.security.policy import (
    CONSOLE_SIGNED_IN,
    PUBLIC,
    SESSION_COOKIE,
    Access,
    Requires,
    csrf_token_for,
)
from darvaza.tenants.service import tenants_by_id

router = APIRouter(prefix="/console", tags=["console"])
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

# Before sign-in there is no session to bind a CSRF token to, so the login form uses a
# double-submit cookie: a random value in a cookie that must match the form's field.
LOGIN_CSRF_COOKIE = "darvaza_login_csrf"
ConsoleUser = Annotated[Access, Requires(CONSOLE_SIGNED_IN)]


def _login_page(
    request: Request, runtime: RuntimeDep, *, error: str | None = None, email: str = "",
    status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    token = secrets.token_urlsafe(32)
    response = templates.TemplateResponse(
        request,
        "login.html",
        {"csrf_token": token, "error": error, "email": email},
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=runtime.settings.cookies_secure,
        path="/console/login",
    )
    return response


STYLESHEET = (Path(__file__).parent / "static" / "console.css").read_bytes()


@router.get("/assets/console.css", dependencies=[Requires(PUBLIC)])
def stylesheet() -> Response:
    # Served by Darvaza itself: the content security policy allows no inline style.
    return Response(
        STYLESHEET, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"}
    )


@router.get("/login", response_class=HTMLResponse, dependencies=[Requires(PUBLIC)])
def login_page(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    return _login_page(request, runtime)


@router.post("/login", response_class=HTMLResponse, dependencies=[Requires(PUBLIC)])
def login(
    request: Request,
    runtime: RuntimeDep,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        return _login_page(
            request, runtime, error="The form expired; please try again.", email=email,
            status_code=status.HTTP_403_FORBIDDEN,
        )  # fmt: skip
    try:
        new = sessions.login(
            runtime.db,
            email=email,
            password=password,
            policy=runtime.session_policy,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
            throttle=runtime.login_throttle,
        )
    except Unauthenticated as exc:
        return _login_page(
            request, runtime, error=exc.message, email=email,
            status_code=status.HTTP_401_UNAUTHORIZED,
        )  # fmt: skip
    response = RedirectResponse("/console/", status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        new.token,
        max_age=int(runtime.session_policy.absolute.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=runtime.settings.cookies_secure,
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, access: ConsoleUser, runtime: RuntimeDep) -> HTMLResponse:
    caller = access.user
    tenants = tenants_by_id(runtime.db, list(caller.tenant_roles))
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
            "csrf_token": csrf_token_for(
                runtime.settings.effective_secret_key, caller.credential_id
            ),
        },
    )


@router.post("/logout")
def logout(access: ConsoleUser, runtime: RuntimeDep) -> Response:
    sessions.logout(runtime.db, access.user)
    response = RedirectResponse("/console/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
