"""Billing's console pages: `customer` (plans, checkout, the gateway's pages, a
customer's subscriptions and payments) and `staff` (a tenant's and the platform's)."""

from __future__ import annotations

from fastapi import APIRouter

from darvaza.billing.pages import customer, staff
from darvaza.console.nav import NavEntry
from darvaza.errors import N_
from darvaza.security.policy import AUDIT_READER, SIGNED_IN, TENANT_STAFF

router = APIRouter()
router.include_router(customer.router)
router.include_router(staff.router)

NAV = [
    NavEntry(N_("My account"), N_("My subscriptions"), "/console/me/subscriptions", SIGNED_IN, 10),
    NavEntry(N_("My account"), N_("My payments"), "/console/me/payments", SIGNED_IN, 11),
    NavEntry(N_("Tenant"), N_("Plans"), "/console/t/{tenant}/manage/plans", TENANT_STAFF, 10),
    NavEntry(N_("Tenant"), N_("Payments"), "/console/t/{tenant}/manage/payments", TENANT_STAFF, 20),
    NavEntry(
        N_("Tenant"), N_("Subscribers"), "/console/t/{tenant}/manage/subscribers", TENANT_STAFF, 21
    ),
    NavEntry(N_("Platform"), N_("Payments"), "/console/admin/payments", AUDIT_READER, 20),
]
