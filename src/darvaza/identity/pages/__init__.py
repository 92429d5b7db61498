"""Identity's console pages: `account` for everyone, `staff` for platform admins."""

from __future__ import annotations

from fastapi import APIRouter

from darvaza.console.nav import NavEntry
from darvaza.errors import N_
from darvaza.identity.pages import account, staff
from darvaza.security.policy import PLATFORM_ADMIN, SIGNED_IN

router = APIRouter()
router.include_router(account.router)
router.include_router(staff.router)

NAV = [
    NavEntry(N_("My account"), N_("Sessions"), "/console/me/sessions", SIGNED_IN, order=80),
    NavEntry(N_("My account"), N_("Password"), "/console/me/password", SIGNED_IN, order=81),
    NavEntry(N_("Platform"), N_("Users"), "/console/admin/users", PLATFORM_ADMIN, order=30),
    NavEntry(
        N_("Platform"), N_("API tokens"), "/console/admin/api-tokens", PLATFORM_ADMIN, order=31
    ),
]
