"""Who acts: the caller of a request, as authentication established them; the tenant a
tenant-scoped route names; and the actor the audit log records."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from darvaza.security.roles import CUSTOMER, PlatformRole, TenantRole


@dataclass(frozen=True)
class Actor:
    """Who caused an event: a user (with the role they acted in), someone not signed in,
    or the system itself (the CLI, the worker)."""

    type: Literal["user", "anonymous", "system"]
    id: str | None = None
    role: str | None = None
    # The support access grant a support admin acted under, if any.
    grant_id: str | None = None

    @classmethod
    def user(cls, user_id: str | uuid.UUID, role: str | None) -> Actor:
        return cls("user", str(user_id), role)

    @classmethod
    def system(cls, component: str = "system") -> Actor:
        return cls("system", component, None)

    @classmethod
    def anonymous(cls) -> Actor:
        return cls("anonymous")


@dataclass(frozen=True)
class TenantRef:
    """The tenant a tenant-scoped route names, as the policy found it."""

    id: uuid.UUID
    slug: str
    name: str


@dataclass(frozen=True)
class Caller:
    user_id: uuid.UUID
    email: str
    platform_role: PlatformRole | None
    credential_id: uuid.UUID
    credential_kind: str
    tenant_roles: Mapping[uuid.UUID, TenantRole] = field(default_factory=dict)
    # The tenants of `tenant_roles`, by id (their slugs and names, for showing).
    tenants: Mapping[uuid.UUID, TenantRef] = field(default_factory=dict)
    via_cookie: bool = False
    email_verified: bool = False
    # The console language the person chose (a tag such as "fa"), if any.
    language: str | None = None
    # Set for this request when a support admin acts under a support access grant.
    support_grant_id: uuid.UUID | None = None

    def role_in(self, tenant_id: uuid.UUID) -> TenantRole | None:
        return self.tenant_roles.get(tenant_id)

    def actor(self, tenant_id: uuid.UUID | None = None) -> Actor:
        """The caller as the audit log names them: by the role they act in."""
        role: str = CUSTOMER
        if self.platform_role is not None:
            role = self.platform_role.value
        elif tenant_id is not None and (tenant_role := self.role_in(tenant_id)) is not None:
            role = tenant_role.value
        grant = str(self.support_grant_id) if self.support_grant_id else None
        return Actor("user", str(self.user_id), role, grant)
