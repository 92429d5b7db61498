"""The identity API: accounts, sessions, and (for platform admins) users and API tokens."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from darvaza.errors import RATE_LIMITED, SPENT_LINK, UNKNOWN_LINK, refuses
from darvaza.http import PartsDep, client_ip, part
from darvaza.identity import service
from darvaza.identity.schemas import (
    AcceptedOut,
    ApiTokenCreatedOut,
    ApiTokenCreateIn,
    ApiTokenOut,
    CreateUserIn,
    CredentialOut,
    LoginIn,
    LoginOut,
    PasswordChangeIn,
    PasswordResetConfirmIn,
    PasswordResetIn,
    PlatformRoleIn,
    RegisterIn,
    RevokedOut,
    SessionOut,
    TenantRoleOut,
    TokenIn,
    UserOut,
    WhoAmIOut,
)
from darvaza.params import PageLimit
from darvaza.security.policy import PLATFORM_ADMIN, PUBLIC, SIGNED_IN, Access, Requires
from darvaza.security.ratelimit import RatesDep

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
admin_router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

SignedIn = Annotated[Access, Requires(SIGNED_IN)]
PlatformAdmin = Annotated[Access, Requires(PLATFORM_ADMIN)]


# The parts identity's routes (and the console's sign-in pages) take.
SessionPolicyDep = Annotated[service.SessionPolicy, part(service.SessionPolicy)]
MailedTokensDep = Annotated[service.MailedTokens, part(service.MailedTokens)]
LoginThrottleDep = Annotated[service.LoginThrottle, part(service.LoginThrottle)]


@router.post(
    "/register",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AcceptedOut,
    dependencies=[Requires(PUBLIC)],
    responses=refuses(_429=RATE_LIMITED),
)
def register(
    body: RegisterIn,
    request: Request,
    parts: PartsDep,
    rates: RatesDep,
    mailed_tokens: MailedTokensDep,
) -> AcceptedOut:
    """Sign up. The answer is the same whether or not the address has an account: the
    address gets a mail (a link to confirm it, or a note that it has an account)."""
    rates.limiter.hit(rates.rules.register_per_ip, client_ip(request))
    # Each sign-up mails the address: limit it per address too, or anyone could flood an
    # inbox with "someone tried to sign up" notes (the same answer either way).
    rates.limiter.hit(
        rates.rules.password_reset_per_email, f"register:{service.email_key(body.email)}"
    )
    service.register(
        parts.db,
        email=body.email,
        password=body.password,
        min_length=parts.settings.password_min_length,
        mailed=mailed_tokens,
    )
    return AcceptedOut(message="Check your email to finish signing up.")


@router.post(
    "/verify-email",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Requires(PUBLIC)],
    responses=refuses(_404=UNKNOWN_LINK, _410=SPENT_LINK),
)
def verify_email(body: TokenIn, parts: PartsDep) -> Response:
    """Confirm an address with the link's token (410 when used or expired)."""
    service.verify_email(parts.db, token=body.token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/verify-email/resend",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AcceptedOut,
    responses=refuses(_429=RATE_LIMITED),
)
def resend_verification(
    access: SignedIn, parts: PartsDep, rates: RatesDep, mailed_tokens: MailedTokensDep
) -> AcceptedOut:
    """Mail me a fresh link to confirm my address."""
    rates.limiter.hit(rates.rules.password_reset_per_email, access.user.email)
    sent = service.resend_verification(parts.db, user_id=access.user.user_id, mailed=mailed_tokens)
    return AcceptedOut(message="Sent." if sent else "Your address is confirmed already.")


@router.post(
    "/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AcceptedOut,
    dependencies=[Requires(PUBLIC)],
    responses=refuses(_429=RATE_LIMITED),
)
def request_password_reset(
    body: PasswordResetIn,
    request: Request,
    parts: PartsDep,
    rates: RatesDep,
    mailed_tokens: MailedTokensDep,
) -> AcceptedOut:
    """Mail a reset link to the address, if it has an account (the same answer either way)."""
    rates.limiter.hit(rates.rules.password_reset_per_ip, client_ip(request))
    rates.limiter.hit(rates.rules.password_reset_per_email, service.email_key(body.email))
    service.request_password_reset(parts.db, email=body.email, mailed=mailed_tokens)
    return AcceptedOut(message="If the address has an account, a link is on its way.")


@router.post(
    "/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Requires(PUBLIC)],
    responses=refuses(_404=UNKNOWN_LINK, _410=SPENT_LINK),
)
def reset_password(body: PasswordResetConfirmIn, parts: PartsDep) -> Response:
    """Set a new password with the link's token; every session of the account ends."""
    service.reset_password(
        parts.db,
        token=body.token,
        new_password=body.new_password,
        min_length=parts.settings.password_min_length,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/login",
    response_model=LoginOut,
    dependencies=[Requires(PUBLIC)],
    responses=refuses(_401="The email or password is wrong.", _429=RATE_LIMITED),
)
def login(
    body: LoginIn,
    request: Request,
    parts: PartsDep,
    session_policy: SessionPolicyDep,
    throttle: LoginThrottleDep,
) -> LoginOut:
    new = service.login(
        parts.db,
        email=body.email,
        password=body.password,
        policy=session_policy,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
        throttle=throttle,
    )
    expires_at = new.credential.expires_at
    assert expires_at is not None  # noqa: S101 (sessions always expire)
    return LoginOut(token=new.token, session_id=new.credential.id, expires_at=expires_at)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(access: SignedIn, parts: PartsDep) -> Response:
    service.logout(parts.db, access.user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/session", response_model=WhoAmIOut)
def who_am_i(access: SignedIn, parts: PartsDep) -> WhoAmIOut:
    caller = access.user
    user = service.user_by_id(parts.db, caller.user_id)
    return WhoAmIOut(
        user=UserOut.model_validate(user),
        platform_role=caller.platform_role,
        tenant_roles=[
            TenantRoleOut(tenant_id=tenant.id, slug=tenant.slug, name=tenant.name, role=role)
            for tenant_id, role in sorted(
                caller.tenant_roles.items(), key=lambda item: str(item[0])
            )
            if (tenant := caller.tenants.get(tenant_id)) is not None
        ],
        credential=CredentialOut(
            id=caller.credential_id,
            kind="api_token" if caller.credential_kind == "api_token" else "session",
            via_cookie=caller.via_cookie,
        ),
    )


@router.get("/sessions", response_model=list[SessionOut])
def list_sessions(
    access: SignedIn, parts: PartsDep, session_policy: SessionPolicyDep
) -> list[SessionOut]:
    found = service.list_sessions(parts.db, access.user, session_policy)
    return [
        SessionOut.model_validate(credential).model_copy(
            update={"current": credential.id == access.user.credential_id}
        )
        for credential in found
    ]


@router.delete("/sessions/{session_id:uuid}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_session(session_id: uuid.UUID, access: SignedIn, parts: PartsDep) -> Response:
    service.revoke_session(parts.db, access.user, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/sessions/revoke-others", response_model=RevokedOut)
def revoke_other_sessions(access: SignedIn, parts: PartsDep) -> RevokedOut:
    return RevokedOut(revoked=service.revoke_other_sessions(parts.db, access.user))


@router.post("/password", response_model=RevokedOut)
def change_password(body: PasswordChangeIn, access: SignedIn, parts: PartsDep) -> RevokedOut:
    revoked = service.change_password(
        parts.db,
        user_id=access.user.user_id,
        credential_id=access.user.credential_id,
        current_password=body.current_password,
        new_password=body.new_password,
        min_length=parts.settings.password_min_length,
    )
    return RevokedOut(revoked=revoked)


# --- Platform admin: users and API tokens ---------------------------------------------


@admin_router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=refuses(_409="An account has this address already."),
)
def create_user(body: CreateUserIn, access: PlatformAdmin, parts: PartsDep) -> UserOut:
    user = service.create_user(
        parts.db,
        access.user.actor(),
        email=body.email,
        password=body.password,
        min_length=parts.settings.password_min_length,
        platform_role=body.platform_role,
    )
    return UserOut.model_validate(user)


@admin_router.get("/users", response_model=list[UserOut], dependencies=[Requires(PLATFORM_ADMIN)])
def list_users(
    parts: PartsDep,
    email: Annotated[str | None, Query(max_length=320)] = None,
    limit: PageLimit = 50,
) -> list[UserOut]:
    return [
        UserOut.model_validate(u) for u in service.list_users(parts.db, email=email, limit=limit)
    ]


@admin_router.put(
    "/users/{user_id:uuid}/platform-role",
    response_model=UserOut,
    responses=refuses(_409="That would leave the platform without a platform admin."),
)
def set_platform_role(
    user_id: uuid.UUID, body: PlatformRoleIn, access: PlatformAdmin, parts: PartsDep
) -> UserOut:
    user = service.set_platform_role(parts.db, access.user.actor(), user_id=user_id, role=body.role)
    return UserOut.model_validate(user)


@admin_router.post(
    "/api-tokens",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiTokenCreatedOut,
    responses=refuses(_429=RATE_LIMITED),
)
def create_api_token(
    body: ApiTokenCreateIn, access: PlatformAdmin, parts: PartsDep, rates: RatesDep
) -> ApiTokenCreatedOut:
    rates.limiter.hit(rates.rules.token_create_per_user, str(access.user.user_id))
    new = service.create_api_token(
        parts.db,
        access.user.actor(),
        email=body.email,
        name=body.name,
        expires_in_days=body.expires_in_days,
        max_days=parts.settings.api_token_max_days,
        created_by=access.user.user_id,
    )
    return ApiTokenCreatedOut(**ApiTokenOut.of(new.credential).model_dump(), token=new.token)


@admin_router.get(
    "/api-tokens", response_model=list[ApiTokenOut], dependencies=[Requires(PLATFORM_ADMIN)]
)
def list_api_tokens(parts: PartsDep, include_revoked: bool = False) -> list[ApiTokenOut]:
    return [
        ApiTokenOut.of(c)
        for c in service.list_api_tokens(parts.db, include_revoked=include_revoked)
    ]


@admin_router.delete("/api-tokens/{token_id:uuid}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_api_token(token_id: uuid.UUID, access: PlatformAdmin, parts: PartsDep) -> Response:
    service.revoke_api_token(parts.db, access.user.actor(), token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
