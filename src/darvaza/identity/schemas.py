"""Shapes of the identity API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from darvaza.identity.models import Credential
from darvaza.params import EmailIn, OneTimeTokenIn
from darvaza.security.passwords import MAX_PASSWORD_LENGTH
from darvaza.security.roles import PlatformRole, TenantRole

# Bounds on input size only; the rules themselves (valid address, strong password) are the
# service's, and answer with their own codes.
PasswordField = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class RegisterIn(BaseModel):
    email: EmailIn
    password: str = PasswordField


class AcceptedOut(BaseModel):
    """The same answer whatever the outcome, so that it tells nothing about accounts."""

    status: Literal["accepted"] = "accepted"
    message: str


class PasswordResetIn(BaseModel):
    email: EmailIn


class PasswordResetConfirmIn(BaseModel):
    token: OneTimeTokenIn
    new_password: str = PasswordField


class TokenIn(BaseModel):
    token: OneTimeTokenIn


class LoginIn(BaseModel):
    email: EmailIn
    password: str = PasswordField


class LoginOut(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"
    session_id: uuid.UUID
    expires_at: datetime


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    email_verified_at: datetime | None
    platform_role: PlatformRole | None
    created_at: datetime


class TenantRoleOut(BaseModel):
    tenant_id: uuid.UUID
    slug: str
    name: str
    role: TenantRole


class CredentialOut(BaseModel):
    id: uuid.UUID
    kind: Literal["session", "api_token"]
    via_cookie: bool


class WhoAmIOut(BaseModel):
    user: UserOut
    platform_role: PlatformRole | None
    tenant_roles: list[TenantRoleOut]
    credential: CredentialOut


class SessionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime | None
    created_ip: str | None
    user_agent: str | None
    current: bool = False


class RevokedOut(BaseModel):
    revoked: int


class PasswordChangeIn(BaseModel):
    current_password: str = PasswordField
    new_password: str = PasswordField


class CreateUserIn(BaseModel):
    email: EmailIn
    password: str = PasswordField
    platform_role: PlatformRole | None = None


class PlatformRoleIn(BaseModel):
    role: PlatformRole | None


class ApiTokenCreateIn(BaseModel):
    email: EmailIn
    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class ApiTokenOut(BaseModel):
    id: uuid.UUID
    name: str | None
    user_email: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, credential: Credential) -> ApiTokenOut:
        return cls(
            id=credential.id,
            name=credential.name,
            user_email=credential.user.email,
            created_at=credential.created_at,
            last_used_at=credential.last_used_at,
            expires_at=credential.expires_at,
            revoked_at=credential.revoked_at,
        )


class ApiTokenCreatedOut(ApiTokenOut):
    token: str = Field(description="Shown this once; only its hash is stored.")
