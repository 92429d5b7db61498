"""Identity's console pages for platform admins: users, their platform roles, and staff
API tokens (a new one is shown once)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from darvaza.console.forms import FormFields, FormState, check_form, form_body, once
from darvaza.console.labels import label
from darvaza.console.render import Pages, page_refusals, see_other
from darvaza.errors import N_, RATE_LIMITED, DarvazaError
from darvaza.http import PartsDep
from darvaza.identity import service
from darvaza.identity.schemas import ApiTokenCreateIn, CreateUserIn, PlatformRoleIn
from darvaza.security.policy import PLATFORM_ADMIN, Access, Requires
from darvaza.security.ratelimit import RatesDep
from darvaza.security.roles import PlatformRole

router = APIRouter(prefix="/console", tags=["console"])
pages = Pages(Path(__file__).parents[1] / "templates")
AdminPage = Annotated[Access, Requires(PLATFORM_ADMIN.for_pages())]


# The platform roles to choose from, with their catalog words.
ROLE_CHOICES = [("", N_("No platform role"))] + [
    (role.value, label(role.value)) for role in PlatformRole
]


def _users_page(
    request: Request, access: Access, parts: PartsDep, *, email: str = "",
    form: FormState | None = None, status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    found = service.list_users(parts.db, email=email or None, limit=200)
    return pages.render(
        request, access, "users.html",
        {"users": found, "email": email, "form": form, "roles": ROLE_CHOICES},
        status_code=status_code,
    )  # fmt: skip


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(
    request: Request, access: AdminPage, parts: PartsDep,
    email: Annotated[str, Query(max_length=320)] = "",
) -> HTMLResponse:  # fmt: skip
    return _users_page(request, access, parts, email=email)


@router.post(
    "/admin/users",
    response_class=RedirectResponse,
    status_code=303,
    openapi_extra=form_body(CreateUserIn),
    responses=page_refusals(
        _409="An account has this address already.", _422="The form again, with what is wrong."
    ),
)
def create_user(
    request: Request, access: AdminPage, parts: PartsDep, fields: FormFields
) -> Response:
    body, form = check_form(CreateUserIn, fields)
    if body is None:
        return _users_page(request, access, parts, form=form, status_code=422)

    def create() -> str:
        user = service.create_user(
            parts.db, access.user.actor(), email=body.email, password=body.password,
            min_length=parts.settings.password_min_length, platform_role=body.platform_role,
        )  # fmt: skip
        return f"/console/admin/users?email={quote(user.email)}"

    try:
        done = once(parts.db, access.user, fields, create, pending="/console/admin/users")
    except DarvazaError as exc:
        form.refuse(exc)
        return _users_page(request, access, parts, form=form, status_code=exc.status_code)
    return see_other(done.location)


@router.post(
    "/admin/users/{user_id:uuid}/role",
    response_class=RedirectResponse,
    status_code=303,
    openapi_extra=form_body(PlatformRoleIn, blank_is_none=("role",)),
    responses=page_refusals(
        _404="No such user.",
        _409="That would leave the platform without a platform admin.",
        _422="No such platform role.",
    ),
)
def set_platform_role(
    request: Request, user_id: uuid.UUID, access: AdminPage, parts: PartsDep, fields: FormFields
) -> Response:
    """Give or take a platform role (empty: none); the person signs in again."""
    body, _ = check_form(PlatformRoleIn, fields, extra={"role": fields.get("role") or None})
    if body is None:
        return pages.refusal(request, access, 422, "No such platform role.")
    service.set_platform_role(parts.db, access.user.actor(), user_id=user_id, role=body.role)
    return see_other("/console/admin/users")


def _tokens_page(
    request: Request, access: Access, parts: PartsDep, *, form: FormState | None = None,
    created: str | None = None, status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    found = service.list_api_tokens(parts.db, include_revoked=False)
    return pages.render(
        request, access, "api_tokens.html",
        {"tokens": found, "form": form, "created": created},
        status_code=status_code,
    )  # fmt: skip


@router.get("/admin/api-tokens", response_class=HTMLResponse)
def api_tokens_page(request: Request, access: AdminPage, parts: PartsDep) -> HTMLResponse:
    return _tokens_page(request, access, parts)


@router.post(
    "/admin/api-tokens",
    response_class=HTMLResponse,
    openapi_extra=form_body(ApiTokenCreateIn),
    responses=page_refusals(
        _404="No account has this address.",
        _422="The form again, with what is wrong.",
        _429=RATE_LIMITED,
    ),
)
def create_api_token(
    request: Request, access: AdminPage, parts: PartsDep, rates: RatesDep, fields: FormFields
) -> Response:
    """The new token is shown on this page once; it is stored only as a hash."""
    body, form = check_form(ApiTokenCreateIn, fields)
    if body is None:
        return _tokens_page(request, access, parts, form=form, status_code=422)
    made: list[str] = []

    def make() -> str:
        rates.limiter.hit(rates.rules.token_create_per_user, str(access.user.user_id))
        new = service.create_api_token(
            parts.db, access.user.actor(), email=body.email, name=body.name,
            expires_in_days=body.expires_in_days, max_days=parts.settings.api_token_max_days,
            created_by=access.user.user_id,
        )  # fmt: skip
        made.append(new.token)
        return "/console/admin/api-tokens"

    try:
        done = once(parts.db, access.user, fields, make, pending="/console/admin/api-tokens")
    except DarvazaError as exc:
        form.refuse(exc)
        return _tokens_page(request, access, parts, form=form, status_code=exc.status_code)
    if done.replayed:
        # The token was shown to the first sending only; a second shows the list.
        return see_other(done.location)
    return _tokens_page(request, access, parts, created=made[0], status_code=201)


@router.post(
    "/admin/api-tokens/{token_id:uuid}/revoke",
    response_class=RedirectResponse,
    status_code=303,
    responses=page_refusals(_404="No such token."),
)
def revoke_api_token(token_id: uuid.UUID, access: AdminPage, parts: PartsDep) -> Response:
    service.revoke_api_token(parts.db, access.user.actor(), token_id)
    return see_other("/console/admin/api-tokens")
