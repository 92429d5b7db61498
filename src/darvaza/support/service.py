"""Support's one face: what routes, the CLI, the jobs and other domains may call. The
rules live behind it: `tickets` (the desk, replies and notes, triage, SLA clocks), `sla`
(the ledger's arithmetic), `grants` (a grant's states), `grant_views` (grants and their
history as people see them) and `grant_use` (working under a grant, its action log)."""

from __future__ import annotations

import uuid

from darvaza.security.caller import Caller
from darvaza.security.grants import GrantScope
from darvaza.support.grant_use import GrantUse, active_grant_for, record_grant_use
from darvaza.support.grant_views import (
    GrantView,
    get_grant,
    grant_actions,
    grants_requested,
    list_grants,
    unreviewed_break_glass,
)
from darvaza.support.grants import (
    GrantRules,
    decide_grant,
    end_due_grants,
    request_grant,
    review_grant,
    revoke_grant,
    withdraw_grant,
)
from darvaza.support.models import SupportGrantAction as GrantAction
from darvaza.support.tickets import (
    Desk,
    SlaClock,
    TicketView,
    add_message,
    breached_tickets,
    close_solved_tickets,
    get_ticket,
    list_tickets,
    open_ticket,
    triage,
)
from darvaza.tenants.service import Gatekeeper


class GrantingGatekeeper(Gatekeeper):
    """The tenants' gatekeeper, and the support grants that admit a support admin."""

    def support_grant(
        self, caller: Caller, tenant_id: uuid.UUID, scope: GrantScope
    ) -> uuid.UUID | None:
        return active_grant_for(self.db, caller.user_id, tenant_id, scope)


__all__ = [
    "Desk",
    "GrantAction",
    "GrantRules",
    "GrantUse",
    "GrantView",
    "GrantingGatekeeper",
    "SlaClock",
    "TicketView",
    "active_grant_for",
    "add_message",
    "breached_tickets",
    "close_solved_tickets",
    "decide_grant",
    "end_due_grants",
    "get_grant",
    "get_ticket",
    "grant_actions",
    "grants_requested",
    "list_grants",
    "list_tickets",
    "open_ticket",
    "record_grant_use",
    "request_grant",
    "review_grant",
    "revoke_grant",
    "triage",
    "unreviewed_break_glass",
    "withdraw_grant",
]
