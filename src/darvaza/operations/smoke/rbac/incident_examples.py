"""The RBAC matrix's examples for incidents' routes and pages. Like an ops finding's, an
incident is never made or changed by the matrix (it runs against live instances): the
admitted are answered past the policy, about an incident that does not exist (404), or
with a declaration refused for its times (422)."""

from __future__ import annotations

from typing import Any

from darvaza.operations.smoke.rbac.world import Call, Example

PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000"
UNKNOWN = frozenset({404})
REFUSED_INPUT = frozenset({422})
API = "/api/v1/admin/incidents"
PAGES = "/console/admin/incidents"
# Impact that began after it was noticed: refused once the caller is admitted.
OUT_OF_ORDER = {
    "title": "RBAC probe", "severity": "SEV4",
    "started_at": "2026-01-01T10:00:00Z", "detected_at": "2026-01-01T09:00:00Z",
}  # fmt: skip
OUT_OF_ORDER_FORM = {"title": "RBAC probe", "severity": "SEV4", "started_minutes_ago": "5",
                     "detected_minutes_ago": "10"}  # fmt: skip


def _unknown(path: str, *, json: Any = None, data: dict[str, str] | None = None) -> Example:
    # A new call each time: the matrix changes a call's credentials in place.
    path = path.format(id=PLACEHOLDER_ID)
    return Example(lambda _w, _c, _a: Call(path, json=json, data=data, also_ok=UNKNOWN))


def _plain(path: str, **kwargs: Any) -> Example:
    return Example(lambda _w, _c, _a: Call(path, **kwargs))


INCIDENT_EXAMPLES: dict[tuple[str, str], Example] = {
    ("GET", API): _plain(f"{API}?status=open"),
    ("GET", "/api/v1/admin/incident-severities"): _plain("/api/v1/admin/incident-severities"),
    ("POST", API): _plain(API, json=OUT_OF_ORDER, also_ok=REFUSED_INPUT),
    ("GET", f"{API}/{{incident_id}}"): _unknown(API + "/{id}"),
    ("GET", f"{API}/{{incident_id}}/timeline"): _unknown(API + "/{id}/timeline"),
    ("PATCH", f"{API}/{{incident_id}}"): _unknown(API + "/{id}", json={"title": "RBAC probe"}),
    ("POST", f"{API}/{{incident_id}}/status"): _unknown(
        API + "/{id}/status", json={"status": "resolved"}
    ),
    ("PUT", f"{API}/{{incident_id}}/roles/{{role}}"): _unknown(
        API + "/{id}/roles/scribe", json={"email": None}
    ),
    ("POST", f"{API}/{{incident_id}}/notes"): _unknown(
        API + "/{id}/notes", json={"body": "RBAC probe"}
    ),
    ("POST", f"{API}/{{incident_id}}/updates"): _unknown(
        API + "/{id}/updates", json={"body": "RBAC probe"}
    ),
    ("POST", f"{API}/{{incident_id}}/mitigations"): _unknown(
        API + "/{id}/mitigations",
        json={"kind": "other", "description": "RBAC probe", "result": "failed"},
    ),
    ("POST", f"{API}/{{incident_id}}/findings"): _unknown(
        API + "/{id}/findings", json={"finding_id": PLACEHOLDER_ID}
    ),
    ("POST", f"{API}/{{incident_id}}/evidence"): _unknown(
        API + "/{id}/evidence", json={"evidence_id": PLACEHOLDER_ID}
    ),
    ("PUT", f"{API}/{{incident_id}}/review"): _unknown(
        API + "/{id}/review", json={"summary": "RBAC probe"}
    ),
    ("POST", f"{API}/{{incident_id}}/action-items/{{item_id}}/done"): _unknown(
        API + "/{id}/action-items/" + PLACEHOLDER_ID + "/done"
    ),
    ("GET", "/api/v1/status"): _plain("/api/v1/status"),
    ("GET", "/status"): _plain("/status"),
}

INCIDENT_PAGE_EXAMPLES: dict[tuple[str, str], Example] = {
    ("GET", PAGES): _plain(PAGES),
    ("POST", PAGES): _plain(PAGES, data=OUT_OF_ORDER_FORM, also_ok=REFUSED_INPUT),
    ("GET", f"{PAGES}/{{incident_id}}"): _unknown(PAGES + "/{id}"),
    ("POST", f"{PAGES}/{{incident_id}}/status"): _unknown(
        PAGES + "/{id}/status", data={"status": "resolved"}
    ),
    ("POST", f"{PAGES}/{{incident_id}}/updates"): _unknown(
        PAGES + "/{id}/updates", data={"body": "RBAC probe"}
    ),
    ("POST", f"{PAGES}/{{incident_id}}/notes"): _unknown(
        PAGES + "/{id}/notes", data={"body": "RBAC probe"}
    ),
    ("POST", f"{PAGES}/{{incident_id}}/mitigations"): _unknown(
        PAGES + "/{id}/mitigations",
        data={"kind": "other", "description": "RBAC probe", "result": "failed"},
    ),
    ("POST", f"{PAGES}/{{incident_id}}/roles"): _unknown(
        PAGES + "/{id}/roles", data={"role": "scribe"}
    ),
    ("POST", f"{PAGES}/{{incident_id}}/review"): _unknown(
        PAGES + "/{id}/review", data={"summary": "RBAC probe"}
    ),
    ("POST", f"{PAGES}/{{incident_id}}/action-items/{{item_id}}/done"): _unknown(
        PAGES + "/{id}/action-items/" + PLACEHOLDER_ID + "/done", data={}
    ),
}
