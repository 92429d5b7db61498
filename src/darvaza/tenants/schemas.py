"""Shapes of the tenants API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from darvaza.params import EmailIn, OneTimeTokenIn
from darvaza.security.roles import TenantRole
from darvaza.tenants.models import TenantMembership


class TenantCreateIn(BaseModel):
    slug: str = Field(min_length=1, max_length=63)
    name: str = Field(min_length=1, max_length=200)
    owner_email: EmailIn


class TenantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    slug: str
    name: str
    created_at: datetime
    synthetic: bool = Field(description="the smoke checks' own tenant, not a customer's")


class PublicTenantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    slug: str
    name: str


class MemberIn(BaseModel):
    email: EmailIn


class InvitationOut(BaseModel):
    status: Literal["invited"] = "invited"
    message: str


class InvitationAcceptIn(BaseModel):
    token: OneTimeTokenIn


class MemberOut(BaseModel):
    user_id: uuid.UUID
    email: str
    role: TenantRole
    since: datetime

    @classmethod
    def of(cls, membership: TenantMembership) -> MemberOut:
        return cls(
            user_id=membership.user_id,
            email=membership.user.email,
            role=TenantRole(membership.role),
            since=membership.created_at,
        )
