"""Who is making a request, as established by authentication."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from darvaza.audit.service import Actor
from darvaza.security.roles import CUSTOMER, PlatformRole, TenantRole


@dataclass(frozen=True)
class Caller:
    user_id: uuid.UUID
    email: str
    platform_role: PlatformRole | None
    credential_id: uuid.UUID
    credential_kind: str
    tenant_roles: Mapping[uuid.UUID, TenantRole] = field(default_factory=dict)
    via_cookie: bool = False
    email_verified: bool = False

    def role_in(self, tenant_id: uuid.UUID) -> TenantRole | None:
        return self.tenant_roles.get(tenant_id)

    def actor(self, tenant_id: uuid.UUID | None = None) -> Actor:
        """The caller as the audit log names them: by the role they act in."""
        role: str = CUSTOMER
        if self.platform_role is not None:
            role = self.platform_role.value
        elif tenant_id is not None and (tenant_role := self.role_in(tenant_id)) is not None:
            role = tenant_role.value
        return Actor.user(self.user_id, role)
