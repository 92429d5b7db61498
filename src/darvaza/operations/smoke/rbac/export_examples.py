"""The RBAC matrix's examples for exports' routes and pages. The matrix never makes an
export (it runs against live instances): the admitted are refused a period that ends
before it starts (422), or asked about an export or a link that does not exist (404)."""

from __future__ import annotations

from typing import Any

from darvaza.operations.smoke.rbac.world import Call, Example, World

PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000"
BACKWARDS = {"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}
REFUSED_INPUT = frozenset({422})
UNKNOWN = frozenset({404})


def _call(path: str, **kwargs: Any) -> Example:
    # A new call each time: the matrix changes a call's credentials in place.
    return Example(lambda _w, _c, _a: Call(path, **kwargs))


def _tenant(dataset: str) -> Example:
    def call(world: World, _c: Any, _a: Any) -> Call:
        return Call(f"/api/v1/tenants/{world.tenant}/exports/{dataset}", json=BACKWARDS,
                    also_ok=REFUSED_INPUT)  # fmt: skip

    return Example(call)


TENANT = "/api/v1/tenants/{tenant}/exports"
EXPORT_EXAMPLES: dict[tuple[str, str], Example] = {
    ("POST", f"{TENANT}/payments"): _tenant("payments"),
    ("POST", f"{TENANT}/subscribers"): _tenant("subscribers"),
    ("POST", f"{TENANT}/downloads"): _tenant("downloads"),
    ("POST", "/api/v1/admin/exports/audit"): _call(
        "/api/v1/admin/exports/audit", json=BACKWARDS, also_ok=REFUSED_INPUT
    ),
    ("GET", "/api/v1/me/exports"): _call("/api/v1/me/exports"),
    ("GET", "/api/v1/me/exports/{export_id}"): _call(
        f"/api/v1/me/exports/{PLACEHOLDER_ID}", also_ok=UNKNOWN
    ),
    ("POST", "/api/v1/me/exports/{export_id}/link"): _call(
        f"/api/v1/me/exports/{PLACEHOLDER_ID}/link", also_ok=UNKNOWN
    ),
    ("GET", "/api/v1/exports/{token}"): _call("/api/v1/exports/dze_unknown", also_ok=UNKNOWN),
}


def _tenant_page(world: World, _c: Any, _a: Any) -> Call:
    return Call(f"/console/t/{world.tenant}/manage/exports",
                data={"dataset": "payments", **BACKWARDS}, also_ok=REFUSED_INPUT)  # fmt: skip


def _tenant_page_view(world: World, _c: Any, _a: Any) -> Call:
    return Call(f"/console/t/{world.tenant}/manage/exports")


EXPORT_PAGE_EXAMPLES: dict[tuple[str, str], Example] = {
    ("GET", "/console/exports"): _call("/console/exports"),
    ("POST", "/console/exports/{export_id}/download"): _call(
        f"/console/exports/{PLACEHOLDER_ID}/download", also_ok=UNKNOWN
    ),
    ("GET", "/console/t/{tenant}/manage/exports"): Example(_tenant_page_view),
    ("POST", "/console/t/{tenant}/manage/exports"): Example(_tenant_page),
    ("POST", "/console/admin/exports/audit"): _call(
        "/console/admin/exports/audit", data=BACKWARDS, also_ok=REFUSED_INPUT
    ),
}
