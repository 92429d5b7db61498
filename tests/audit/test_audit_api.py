"""What identity and tenants write to the audit log, and reading it back through the API."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from darvaza.audit.checkpoints import CheckpointFolder, seal_all
from darvaza.audit.models import AuditSeal
from darvaza.clock import utcnow
from darvaza.security.roles import PlatformRole
from tests.audit.support import KEYS, append
from tests.support.world import Api, admin_token, error_code, person


def _events(api: Api, token: str, **query: str) -> list[dict[str, object]]:
    response = api.call("GET", "/api/v1/admin/audit", token=token, params=query)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_identity_and_tenant_changes_are_on_record_with_ip_and_request_id(api: Api) -> None:
    admin = admin_token(api.db)
    owner, manager = person(api.db), person(api.db)
    rid = {name: f"test-{name}-0001" for name in ("ok", "bad", "tenant", "role", "token", "out")}

    api.call(
        "POST",
        "/api/v1/auth/login",
        json={"email": owner.email, "password": "wrong-one-1"},
        headers={"X-Request-ID": rid["bad"]},
    )
    login = api.call(
        "POST",
        "/api/v1/auth/login",
        json={"email": owner.email, "password": owner.password},
        headers={"X-Request-ID": rid["ok"]},
    )
    owner_token = login.json()["token"]
    tenant = api.call(
        "POST",
        "/api/v1/admin/tenants",
        token=admin,
        headers={"X-Request-ID": rid["tenant"]},
        json={"slug": "acme", "name": "Acme", "owner_email": owner.email},
    ).json()
    api.call(
        "POST", "/api/v1/tenants/acme/managers", token=owner_token, json={"email": manager.email}
    )
    api.call(
        "PUT",
        f"/api/v1/admin/users/{manager.user.id}/platform-role",
        token=admin,
        json={"role": "auditor"},
        headers={"X-Request-ID": rid["role"]},
    )
    made = api.call(
        "POST",
        "/api/v1/admin/api-tokens",
        token=admin,
        headers={"X-Request-ID": rid["token"]},
        json={"email": manager.email, "name": "reports"},
    ).json()
    api.call("DELETE", f"/api/v1/admin/api-tokens/{made['id']}", token=admin)
    session_id = login.json()["session_id"]
    second = api.login(owner)
    api.call("DELETE", f"/api/v1/auth/sessions/{session_id}", token=second)
    api.call("POST", "/api/v1/auth/logout", token=second, headers={"X-Request-ID": rid["out"]})

    events = _events(api, admin, limit="200")
    by_action: dict[str, list[dict[str, object]]] = {}
    for event in events:
        by_action.setdefault(str(event["action"]), []).append(event)
    for action in (
        "auth.login.failed",
        "auth.login.succeeded",
        "tenant.created",
        "tenant.manager_invited",
        "user.platform_role_changed",
        "api_token.created",
        "api_token.revoked",
        "auth.session_revoked",
        "auth.logout",
    ):
        assert action in by_action, f"{action} missing from {sorted(by_action)}"
    assert all(event["ip"] == "127.0.0.1" for event in events if event["actor_type"] != "system")

    failed = by_action["auth.login.failed"][0]
    assert failed["request_id"] == rid["bad"]
    assert failed["actor_type"] == "anonymous"
    assert failed["target_id"] == str(owner.user.id)
    assert "wrong-one-1" not in str(events)
    created = by_action["tenant.created"][0]
    assert (created["request_id"], created["tenant_id"]) == (rid["tenant"], tenant["id"])
    assert created["actor_role"] == "platform_admin"
    role = by_action["user.platform_role_changed"][0]
    assert role["data"] == {"from": None, "to": "auditor", "credentials_revoked": 0}
    assert by_action["api_token.created"][0]["request_id"] == rid["token"]
    assert made["token"] not in str(events)
    assert by_action["auth.logout"][0]["request_id"] == rid["out"]
    invited = by_action["tenant.manager_invited"][0]
    assert (invited["actor_role"], invited["actor_id"]) == ("owner", str(owner.user.id))
    assert invited["data"] == {"email": manager.email}


def test_audit_filters_and_cursor_pages(api: Api) -> None:
    admin = admin_token(api.db)
    owner = person(api.db)
    tenant = api.call(
        "POST",
        "/api/v1/admin/tenants",
        token=admin,
        json={"slug": "acme", "name": "Acme", "owner_email": owner.email},
    ).json()
    for _ in range(5):
        api.login(owner)
    auditor = api.login(person(api.db, PlatformRole.AUDITOR))

    logins = _events(api, auditor, action="auth.login.succeeded", actor=str(owner.user.id))
    assert len(logins) == 5
    assert [e["id"] for e in logins] == sorted((e["id"] for e in logins), reverse=True)
    assert len(_events(api, auditor, action="auth.")) >= 6
    assert [e["action"] for e in _events(api, auditor, tenant=tenant["id"])] == ["tenant.created"]

    page_one = api.call("GET", "/api/v1/admin/audit", token=auditor, params={"limit": 3}).json()
    page_two = api.call(
        "GET",
        "/api/v1/admin/audit",
        token=auditor,
        params={"limit": 3, "cursor": page_one["next_cursor"]},
    ).json()
    first_ids = [e["id"] for e in page_one["items"]]
    second_ids = [e["id"] for e in page_two["items"]]
    assert len(first_ids) == 3
    assert max(second_ids) < min(first_ids)
    every = _events(api, auditor, limit="200")
    assert [e["id"] for e in every][:6] == first_ids + second_ids

    now = utcnow()
    assert _events(api, auditor, since=(now + timedelta(hours=1)).isoformat()) == []
    assert len(
        _events(api, auditor, until=(now + timedelta(hours=1)).isoformat(), limit="200")
    ) == len(every)


def test_bad_audit_queries_are_422(api: Api) -> None:
    auditor = api.login(person(api.db, PlatformRole.AUDITOR))
    for query in (
        {"cursor": "abc"},
        {"since": "2026-01-01T00:00:00"},
        {"limit": "0"},
        {"limit": "201"},
        {"since": "yesterday"},
        {"until": "0.5"},  # was read as half a second after 1970
        {"until": "1700000000"},
    ):
        response = api.call("GET", "/api/v1/admin/audit", token=auditor, params=query)
        assert response.status_code == 422, query
        assert error_code(response) in {"validation_error", "invalid_cursor"}


def test_an_event_shows_its_seal_once_sealed(api: Api, tmp_path: Path) -> None:
    auditor = api.login(person(api.db, PlatformRole.AUDITOR))
    (login,) = _events(api, auditor, action="auth.login.succeeded")
    assert (login["seq"], login["hash"]) == (None, None)
    seal_all(api.db, KEYS, CheckpointFolder(tmp_path))
    (login,) = _events(api, auditor, action="auth.login.succeeded")
    with api.db.read() as session:
        seal = session.scalars(select(AuditSeal).where(AuditSeal.event_id == login["id"])).one()
    assert (login["seq"], login["hash"]) == (seal.seq, seal.hash)


def test_metrics_show_the_sealers_backlog(api: Api, tmp_path: Path) -> None:
    def figure(name: str) -> float:
        text = api.call("GET", "/metrics").text
        return float(next(line for line in text.splitlines() if line.startswith(name)).split()[-1])

    assert figure("darvaza_audit_unsealed_events") == 0
    assert figure("darvaza_audit_seal_lag_seconds") == 0
    append(api.db, 3)
    time.sleep(0.2)
    assert figure("darvaza_audit_unsealed_events") == 3
    assert figure("darvaza_audit_seal_lag_seconds") >= 0.2
    seal_all(api.db, KEYS, CheckpointFolder(tmp_path))
    assert figure("darvaza_audit_unsealed_events") == 0
