"""The RBAC matrix's examples for support's routes: tickets from the three desks, and
support access grants. A decision on a grant is tried on one its requester withdrew, so
the admitted are answered 409 past the policy and the matrix approves nothing."""

from __future__ import annotations

from typing import Any

from darvaza.operations.smoke.rbac.world import Call, Example, World

PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000"
DECIDED = frozenset({409})
REFUSED_INPUT = frozenset({422})
NOTE = {"body": "RBAC probe", "internal": True}


Body = dict[str, Any] | None


def _own_ticket(path: str, *, json: Body = None, data: Body = None) -> Example:
    """A ticket of the caller's own at `path` (`{ticket}`): each signed-in caller opens
    one when admitted; someone else's is unknown."""

    def build(w: World, caller: str, admitted: bool) -> Call:
        ticket = w.open_ticket(caller) if admitted else PLACEHOLDER_ID
        return Call(path.format(ticket=ticket), json=json, data=data)

    def foreign(w: World) -> list[tuple[str, Call]]:
        theirs = w.open_ticket("manager")
        return [("customer", Call(path.format(ticket=theirs), json=json, data=data))]

    return Example(build, foreign=foreign)


def _tenant_ticket(path: str, *, json: Body = None, data: Body = None) -> Example:
    """The world's ticket at `path` (`{tenant}`, `{ticket}`); through another tenant's
    path, by its owner, unknown."""

    def build(w: World, _caller: str, _admitted: bool) -> Call:
        return Call(path.format(tenant=w.tenant, ticket=w.ticket), json=json, data=data)

    def foreign(w: World) -> list[tuple[str, Call]]:
        theirs = path.format(tenant=w.other_tenant, ticket=w.ticket)
        return [("other_owner", Call(theirs, json=json, data=data))]

    return Example(build, foreign=foreign)


def _desk_ticket(path: str, *, json: Body = None, data: Body = None,
                 also_ok: frozenset[int] = frozenset()) -> Example:  # fmt: skip
    """The world's ticket at the support desk's `path` (`{ticket}`)."""
    return Example(
        lambda w, _c, _a: Call(path.format(ticket=w.ticket), json=json, data=data, also_ok=also_ok)
    )


def _request_grant(w: World, _caller: str, _admitted: bool) -> Call:
    # Another tenant's ticket: refused for what it asks (422), reached only past the policy.
    body = {"tenant": w.other_tenant, "ticket_id": w.ticket, "reason": "RBAC probe",
            "data_classes": ["tickets"]}  # fmt: skip
    return Call("/api/v1/support/grants", json=body, also_ok=REFUSED_INPUT)


def _decision(verb: str, body: dict[str, object]) -> Example:
    def build(w: World, _caller: str, admitted: bool) -> Call:
        grant = w.withdrawn_grant() if admitted else PLACEHOLDER_ID
        path = f"/api/v1/tenants/{w.tenant}/support-grants/{grant}/{verb}"
        return Call(path, json=body, also_ok=DECIDED)

    def foreign(w: World) -> list[tuple[str, Call]]:
        path = f"/api/v1/tenants/{w.other_tenant}/support-grants/{w.withdrawn_grant()}/{verb}"
        return [("other_owner", Call(path, json=body))]

    return Example(build, foreign=foreign)


def _grant(path: str) -> Example:
    def build(w: World, _caller: str, admitted: bool) -> Call:
        grant = w.withdrawn_grant() if admitted else PLACEHOLDER_ID
        return Call(path.format(tenant=w.tenant, grant=grant))

    return Example(build)


def _withdraw(w: World, _caller: str, admitted: bool) -> Call:
    grant = w.withdrawn_grant() if admitted else PLACEHOLDER_ID
    return Call(f"/api/v1/support/grants/{grant}/withdraw", json={}, also_ok=DECIDED)


SUPPORT_EXAMPLES: dict[tuple[str, str], Example] = {
    ("POST", "/api/v1/tenants/{tenant}/tickets"): Example(
        lambda w, _c, _a: Call(
            f"/api/v1/tenants/{w.tenant}/tickets",
            json={"subject": w.unique("t"), "body": "RBAC probe"},
        )
    ),
    ("GET", "/api/v1/me/tickets"): Example(lambda _w, _c, _a: Call("/api/v1/me/tickets")),
    ("GET", "/api/v1/me/tickets/{ticket_id}"): _own_ticket("/api/v1/me/tickets/{ticket}"),
    ("POST", "/api/v1/me/tickets/{ticket_id}/messages"): _own_ticket(
        "/api/v1/me/tickets/{ticket}/messages", json={"body": "RBAC probe"}
    ),
    ("GET", "/api/v1/tenants/{tenant}/tickets"): Example(
        lambda w, _c, _a: Call(f"/api/v1/tenants/{w.tenant}/tickets")
    ),
    ("GET", "/api/v1/tenants/{tenant}/tickets/{ticket_id}"): _tenant_ticket(
        "/api/v1/tenants/{tenant}/tickets/{ticket}"
    ),
    ("POST", "/api/v1/tenants/{tenant}/tickets/{ticket_id}/messages"): _tenant_ticket(
        "/api/v1/tenants/{tenant}/tickets/{ticket}/messages", json=NOTE
    ),
    ("PATCH", "/api/v1/tenants/{tenant}/tickets/{ticket_id}"): _tenant_ticket(
        "/api/v1/tenants/{tenant}/tickets/{ticket}", json={"tier": 1}
    ),
    ("GET", "/api/v1/support/tickets"): Example(lambda _w, _c, _a: Call("/api/v1/support/tickets")),
    ("GET", "/api/v1/support/tickets/{ticket_id}"): _desk_ticket(
        "/api/v1/support/tickets/{ticket}"
    ),
    ("POST", "/api/v1/support/tickets/{ticket_id}/messages"): _desk_ticket(
        "/api/v1/support/tickets/{ticket}/messages", json=NOTE
    ),
    ("PATCH", "/api/v1/support/tickets/{ticket_id}"): _desk_ticket(
        "/api/v1/support/tickets/{ticket}", json={"tier": 1}
    ),
    ("POST", "/api/v1/support/grants"): Example(_request_grant),
    ("GET", "/api/v1/support/grants"): Example(lambda _w, _c, _a: Call("/api/v1/support/grants")),
    ("GET", "/api/v1/support/grants/{grant_id}"): _grant("/api/v1/support/grants/{grant}"),
    ("GET", "/api/v1/support/grants/{grant_id}/actions"): _grant(
        "/api/v1/support/grants/{grant}/actions"
    ),
    ("POST", "/api/v1/support/grants/{grant_id}/withdraw"): Example(_withdraw),
    ("GET", "/api/v1/tenants/{tenant}/support-grants"): Example(
        lambda w, _c, _a: Call(f"/api/v1/tenants/{w.tenant}/support-grants")
    ),
    ("GET", "/api/v1/tenants/{tenant}/support-grants/{grant_id}"): _grant(
        "/api/v1/tenants/{tenant}/support-grants/{grant}"
    ),
    ("POST", "/api/v1/tenants/{tenant}/support-grants/{grant_id}/approve"): _decision(
        "approve", {}
    ),
    ("POST", "/api/v1/tenants/{tenant}/support-grants/{grant_id}/deny"): _decision("deny", {}),
    ("POST", "/api/v1/tenants/{tenant}/support-grants/{grant_id}/revoke"): _decision("revoke", {}),
    ("POST", "/api/v1/tenants/{tenant}/support-grants/{grant_id}/review"): _decision(
        "review", {"note": "RBAC probe"}
    ),
    ("GET", "/api/v1/tenants/{tenant}/support-actions"): Example(
        lambda w, _c, _a: Call(f"/api/v1/tenants/{w.tenant}/support-actions")
    ),
}


# --- The console's support pages ---------------------------------------------------------


def _page_grant(path: str, data: dict[str, str] | None = None) -> Example:
    """A page about a grant its requester withdrew: a decision on it is refused (409)."""

    def build(w: World, _caller: str, admitted: bool) -> Call:
        grant = w.withdrawn_grant() if admitted else PLACEHOLDER_ID
        return Call(path.format(tenant=w.tenant, grant=grant), data=data, also_ok=DECIDED)

    return Example(build)


def _page(path: str, data: dict[str, str] | None = None) -> Example:
    return Example(lambda w, _c, _a: Call(path.format(tenant=w.tenant), data=data))


PAGE_NOTE = {"body": "RBAC probe", "internal": "true"}
OWNER_GRANT = "/console/t/{tenant}/manage/support/{grant}"

SUPPORT_PAGE_EXAMPLES: dict[tuple[str, str], Example] = {
    ("GET", "/console/tickets"): _page("/console/tickets"),
    ("GET", "/console/tickets/{ticket_id}"): _own_ticket("/console/tickets/{ticket}"),
    ("POST", "/console/tickets/{ticket_id}"): _own_ticket(
        "/console/tickets/{ticket}", data={"body": "RBAC probe"}
    ),
    ("GET", "/console/t/{tenant}/tickets/new"): _page("/console/t/{tenant}/tickets/new"),
    ("POST", "/console/t/{tenant}/tickets/new"): Example(
        lambda w, _c, _a: Call(
            f"/console/t/{w.tenant}/tickets/new",
            data={"subject": w.unique("t"), "body": "RBAC probe"},
        )
    ),
    ("GET", "/console/t/{tenant}/manage/tickets"): _page("/console/t/{tenant}/manage/tickets"),
    ("GET", "/console/t/{tenant}/manage/tickets/{ticket_id}"): _tenant_ticket(
        "/console/t/{tenant}/manage/tickets/{ticket}"
    ),
    ("POST", "/console/t/{tenant}/manage/tickets/{ticket_id}"): _tenant_ticket(
        "/console/t/{tenant}/manage/tickets/{ticket}", data=PAGE_NOTE
    ),
    ("POST", "/console/t/{tenant}/manage/tickets/{ticket_id}/triage"): _tenant_ticket(
        "/console/t/{tenant}/manage/tickets/{ticket}/triage", data={"tier": "1"}
    ),
    ("GET", "/console/support/tickets"): _page("/console/support/tickets"),
    ("GET", "/console/support/tickets/{ticket_id}"): _desk_ticket(
        "/console/support/tickets/{ticket}"
    ),
    ("POST", "/console/support/tickets/{ticket_id}"): _desk_ticket(
        "/console/support/tickets/{ticket}", data=PAGE_NOTE
    ),
    ("POST", "/console/support/tickets/{ticket_id}/triage"): _desk_ticket(
        "/console/support/tickets/{ticket}/triage", data={"tier": "1"}
    ),
    # No data class chosen: the form again (422), reached only past the policy.
    ("POST", "/console/support/tickets/{ticket_id}/grants"): _desk_ticket(
        "/console/support/tickets/{ticket}/grants",
        data={"reason": "RBAC probe"},
        also_ok=REFUSED_INPUT,
    ),
    ("GET", "/console/support/grants"): _page("/console/support/grants"),
    ("GET", "/console/support/grants/{grant_id}"): _page_grant("/console/support/grants/{grant}"),
    ("POST", "/console/support/grants/{grant_id}/withdraw"): _page_grant(
        "/console/support/grants/{grant}/withdraw", {}
    ),
    ("GET", "/console/t/{tenant}/manage/support"): _page("/console/t/{tenant}/manage/support"),
    ("GET", "/console/t/{tenant}/manage/support/{grant_id}"): _page_grant(OWNER_GRANT),
    ("POST", "/console/t/{tenant}/manage/support/{grant_id}/approve"): _page_grant(
        OWNER_GRANT + "/approve", {}
    ),
    ("POST", "/console/t/{tenant}/manage/support/{grant_id}/deny"): _page_grant(
        OWNER_GRANT + "/deny", {}
    ),
    ("POST", "/console/t/{tenant}/manage/support/{grant_id}/revoke"): _page_grant(
        OWNER_GRANT + "/revoke", {}
    ),
    ("POST", "/console/t/{tenant}/manage/support/{grant_id}/review"): _page_grant(
        OWNER_GRANT + "/review", {"note": "RBAC probe"}
    ),
}
