"""The RBAC matrix's examples for readiness's routes and pages. The matrix never grants
or withdraws an exemption (it runs against live instances): the admitted are refused an
exemption of the production claim, which never stands exempt (422), or asked to withdraw
one that does not exist (404)."""

from __future__ import annotations

from typing import Any

from darvaza.operations.smoke.rbac.world import Call, Example

PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000"
API = "/api/v1/admin/readiness"
PAGE = "/console/admin/readiness"
NEVER_EXEMPT = {"proof": "production_claim", "reason": "RBAC probe"}


def _call(path: str, **kwargs: Any) -> Example:
    # A new call each time: the matrix changes a call's credentials in place.
    return Example(lambda _w, _c, _a: Call(path, **kwargs))


READINESS_EXAMPLES: dict[tuple[str, str], Example] = {
    ("GET", API): _call(API),
    ("GET", f"{API}/exemptions"): _call(f"{API}/exemptions"),
    ("POST", f"{API}/exemptions"): _call(
        f"{API}/exemptions",
        json={**NEVER_EXEMPT, "expires_at": "2099-01-01T00:00:00Z"},
        also_ok=frozenset({422}),
    ),
    ("POST", f"{API}/exemptions/{{exemption_id}}/withdraw"): _call(
        f"{API}/exemptions/{PLACEHOLDER_ID}/withdraw",
        json={"reason": "RBAC probe"},
        also_ok=frozenset({404}),
    ),
}

READINESS_PAGE_EXAMPLES: dict[tuple[str, str], Example] = {
    ("GET", PAGE): _call(PAGE),
    ("POST", f"{PAGE}/exemptions"): _call(
        f"{PAGE}/exemptions", data={**NEVER_EXEMPT, "days": "1"}, also_ok=frozenset({422})
    ),
    ("POST", f"{PAGE}/exemptions/{{exemption_id}}/withdraw"): _call(
        f"{PAGE}/exemptions/{PLACEHOLDER_ID}/withdraw",
        data={"reason": "RBAC probe"},
        also_ok=frozenset({404}),
    ),
}
