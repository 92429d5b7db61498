"""The ops summary and findings over HTTP: answers platform staff with the committed,
versioned JSON Schema; findings listed, shown with their timeline and acknowledged (404
unknown, 409 resolved, 422 out of range); the figures on /metrics."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

import jsonschema_rs
from sqlalchemy import update

from darvaza.billing.models import Payment
from darvaza.clock import utcnow
from darvaza.contract import (
    SNAPSHOT,
    record_summary_schema,
    summary_schema,
    summary_schema_path,
    summary_schema_problems,
)
from darvaza.jobs.models import WorkerHeartbeat
from darvaza.security.roles import PlatformRole
from tests.billing.support import open_shop
from tests.support.checks import run
from tests.support.jobs import parts as make_parts
from tests.support.world import Api, admin_token, error_code, person

SUMMARY = "/api/v1/admin/ops/summary"


def _validator() -> jsonschema_rs.Validator:
    version, _ = summary_schema()
    committed = json.loads(summary_schema_path(version).read_text())
    return jsonschema_rs.validator_for(committed)


def _seed(api: Api) -> str:
    """A mismatched payment (critical) and no worker (critical); returns the order id."""
    shop = open_shop(api.db)
    order_id = shop.checkout().order_id
    with api.db.transaction() as session:
        session.execute(
            update(Payment).where(Payment.order_id == order_id).values(state="mismatch")
        )
    parts = make_parts(api.db)
    for code in ("payments.mismatch", "jobs.no_worker", "backups.missing"):
        run(parts, code)
    return order_id


def test_platform_staff_read_the_summary_in_its_committed_schema(api: Api) -> None:
    order_id = _seed(api)
    for role in (PlatformRole.AUDITOR, PlatformRole.SUPPORT_ADMIN, PlatformRole.PLATFORM_ADMIN):
        token = api.login(person(api.db, role))
        answer = api.call("GET", SUMMARY, token)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        _validator().validate(body)
    assert body["schema_version"] == "1"
    assert body["status"] == "critical"
    assert body["all_checks_fresh"] is False  # most checks never ran in this test
    assert body["counts"]["by_severity"]["critical"] == 2
    codes = [finding["code"] for finding in body["findings"]]
    assert codes[:2] == ["payments.mismatch", "jobs.no_worker"] or codes[:2] == [
        "jobs.no_worker", "payments.mismatch",
    ]  # fmt: skip
    assert codes[2] == "backups.missing"  # high after the critical ones
    mismatch = next(f for f in body["findings"] if f["code"] == "payments.mismatch")
    assert mismatch["subject"]["id"] == order_id
    assert mismatch["owner"] == "platform_admin"
    assert mismatch["playbook"]["path"] == "docs/playbooks/payments.mismatch.md"
    assert mismatch["playbook"]["first_steps"]  # read from the playbook
    assert mismatch["fingerprint_inputs"]["subject_id"] == order_id
    checks = {check["code"]: check for check in body["checks"]}
    assert checks["payments.mismatch"]["stale"] is False
    assert checks["identity.signin_failures"]["stale"] is True
    customer = api.login(person(api.db))
    assert api.call("GET", SUMMARY, customer).status_code == 403
    assert api.call("GET", SUMMARY).status_code == 401


def test_findings_are_listed_shown_and_acknowledged(api: Api) -> None:
    _seed(api)
    admin = admin_token(api.db)
    listed = api.call("GET", "/api/v1/admin/ops/findings?severity=critical", admin).json()
    assert {item["code"] for item in listed["items"]} == {"payments.mismatch", "jobs.no_worker"}
    finding_id = next(i["id"] for i in listed["items"] if i["code"] == "jobs.no_worker")
    path = f"/api/v1/admin/ops/findings/{finding_id}"

    until = (utcnow() + timedelta(hours=2)).isoformat()
    body = {"reason": "starting the worker, ticket 7", "until": until}
    made = api.call("POST", f"{path}/acknowledge", admin, json=body)
    assert made.status_code == 200, made.text
    assert made.json()["state"] == "acknowledged"
    assert made.json()["acknowledgement"]["reason"] == "starting the worker, ticket 7"
    shown = api.call("GET", path, admin).json()
    assert [event["kind"] for event in shown["events"]] == ["opened", "acknowledged"]
    summary = api.call("GET", SUMMARY, admin).json()
    assert [f["state"] for f in summary["findings"] if f["code"] == "jobs.no_worker"] == [
        "acknowledged"
    ]

    past = {"reason": "x" * 5, "until": (utcnow() - timedelta(minutes=1)).isoformat()}
    too_long = {"reason": "x" * 5, "until": (utcnow() + timedelta(days=30)).isoformat()}
    for refused in (past, too_long):
        answer = api.call("POST", f"{path}/acknowledge", admin, json=refused)
        assert (answer.status_code, error_code(answer)) == (422, "invalid_range")
    unknown = f"/api/v1/admin/ops/findings/{uuid.uuid4()}"
    assert api.call("GET", unknown, admin).status_code == 404
    assert api.call("POST", f"{unknown}/acknowledge", admin, json=body).status_code == 404
    auditor = api.login(person(api.db, PlatformRole.AUDITOR))
    assert api.call("POST", f"{path}/acknowledge", auditor, json=body).status_code == 403

    with api.db.transaction() as session:  # a worker reports in: the finding resolves
        now = utcnow()
        session.add(WorkerHeartbeat(
            id="w1", host="h", pid=1, queues="default", concurrency=1, state="running",
            started_at=now, last_seen_at=now,
        ))  # fmt: skip
    run(make_parts(api.db), "jobs.no_worker")
    resolved = api.call("POST", f"{path}/acknowledge", admin, json=body)
    assert (resolved.status_code, error_code(resolved)) == (409, "invalid_state")


def test_metrics_show_open_findings_and_check_freshness(api: Api) -> None:
    _seed(api)
    text = api.call("GET", "/metrics").text
    assert 'darvaza_ops_findings_open{code="payments.mismatch",severity="critical"} 1.0' in text
    assert 'darvaza_ops_findings_open{code="jobs.dead",severity="high"} 0.0' in text
    assert 'darvaza_ops_check_stale{code="payments.mismatch"} 0.0' in text
    assert 'darvaza_ops_check_stale{code="jobs.dead"} 1.0' in text
    assert 'darvaza_ops_check_age_seconds{code="jobs.dead"} -1.0' in text


def test_a_published_summary_schema_never_changes(tmp_path: Path) -> None:
    assert summary_schema_problems() == []
    assert summary_schema_problems(tmp_path)[0].startswith("The ops summary's schema v1")
    recorded = record_summary_schema(tmp_path)
    assert summary_schema_problems(tmp_path) == []
    changed = json.loads(recorded.read_text())
    changed["properties"]["status"]["enum"] = ["ok", "bad"]
    recorded.write_text(json.dumps(changed))
    assert "a published schema never changes" in summary_schema_problems(tmp_path)[0]
    record_summary_schema(tmp_path)  # does not overwrite a published version
    assert "a published schema never changes" in summary_schema_problems(tmp_path)[0]
    assert SNAPSHOT.parent == summary_schema_path("1").parent
