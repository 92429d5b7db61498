"""Shapes of the identity API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from darvaza.security.roles import PlatformRole, TenantRole

# Bounds on input size only; the rules themselves (valid address, strong password) are the
# service's, and answer with their own codes.
EmailField = Field(min_length=1, max_length=320)
PasswordField = Field(min_length=1, max_length=1024)


class RegisterIn(BaseModel):
    email: str = EmailField
    password: str = PasswordField


class AcceptedOut(BaseModel):
    """The same answer whatever the outcome, so that it tells nothing about accounts."""

    status: Literal["accepted"] = "accepted"
    message: str


class PasswordResetIn(BaseModel):
    email: str = EmailField


class PasswordResetConfirmIn(BaseModel):
    token: str = Field(min_length=1, max_length=100)
    new_password: str = PasswordField


class TokenIn(BaseModel):
    token: str = Field(min_length=1, max_length=100)


class LoginIn(BaseModel):
    email: str = EmailField
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
    email: str = EmailField
    password: str = PasswordField
    platform_role: PlatformRole | None = None


class PlatformRoleIn(BaseModel):
    role: PlatformRole | None


class ApiTokenCreateIn(BaseModel):
    email: str = EmailField
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


class ApiTokenCreatedOut(ApiTokenOut):
    token: str = Field(description="Shown this once; only its hash is stored.")
