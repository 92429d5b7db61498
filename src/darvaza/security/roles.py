"""The roles Darvaza knows. Platform roles are held by staff; tenant roles by a tenant's
people. A customer holds neither."""

from __future__ import annotations

from enum import StrEnum


class PlatformRole(StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    SUPPORT_ADMIN = "support_admin"
    AUDITOR = "auditor"


class TenantRole(StrEnum):
    OWNER = "owner"
    MANAGER = "manager"


CUSTOMER = "customer"

# Who sees everything a tenant has (its plans, content, payments): its owners and managers,
# and platform admins. The `tenant_staff` policy and content's entitlement both use this.
STAFF_TENANT_ROLES = frozenset({TenantRole.OWNER, TenantRole.MANAGER})
STAFF_PLATFORM_ROLES = frozenset({PlatformRole.PLATFORM_ADMIN})
