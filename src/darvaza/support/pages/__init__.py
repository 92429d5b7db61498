"""Support's console pages. Customers: their tickets, a new one, replies. A tenant's
staff: the tenant's tickets, replies, internal notes and triage. Its owners: requests for
support access to decide, the grants given and everything done under them. Support staff:
the queue by SLA due time, a ticket with its notes, asking for access, their grants.
`tickets` and `grants` hold the pages; `common` what they share."""

from __future__ import annotations

from fastapi import APIRouter

from darvaza.console.nav import NavEntry
from darvaza.errors import N_
from darvaza.security.policy import SIGNED_IN, TENANT_DIRECTORY, TENANT_OWNER, TENANT_STAFF
from darvaza.support.pages import grants, tickets
from darvaza.support.pages.common import MANAGE

router = APIRouter()
router.include_router(tickets.router)
router.include_router(grants.router)

NAV = [
    NavEntry(N_("My account"), N_("My tickets"), "/console/tickets", SIGNED_IN, 20),
    NavEntry(N_("Tenant"), N_("Tickets"), "/console" + MANAGE + "/tickets", TENANT_STAFF, 50),
    NavEntry(
        N_("Tenant"), N_("Support access"), "/console" + MANAGE + "/support", TENANT_OWNER, 51
    ),
    NavEntry(N_("Platform"), N_("Support queue"), "/console/support/tickets", TENANT_DIRECTORY, 5),
    NavEntry(N_("Platform"), N_("Access grants"), "/console/support/grants", TENANT_DIRECTORY, 6),
]
