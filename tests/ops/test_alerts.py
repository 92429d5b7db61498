"""Alert routing: the routes file is checked (a mistake names its line and refuses the
start); findings are delivered through the queue to a real local webhook receiver in
Alertmanager's format, signed, and to a real SMTP server; failures are retried and never
lose the alert, and a delivery that dies is a finding; open findings are sent again after
the repeat interval and their resolution is sent; `darvaza alerts test` proves a route."""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
from datetime import timedelta
from pathlib import Path

import jsonschema_rs
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from darvaza.assembly import WORK
from darvaza.cli import app as cli
from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.jobs.models import Job, WorkerHeartbeat
from darvaza.jobs.queue import claim
from darvaza.jobs.registry import run_claimed
from darvaza.jobs.service import retry_job
from darvaza.operations.models import Evidence
from darvaza.ops.alert_routes import AlertRoutes, AlertRoutesError, parse_alert_routes
from darvaza.ops.alerts import dispatch_alerts
from darvaza.ops.findings import acknowledge_finding
from darvaza.ops.models import AlertNotification
from darvaza.parts import Parts
from darvaza.security.caller import Actor
from tests.support.checks import findings, run, states
from tests.support.jobs import parts as make_parts
from tests.support.mail import Inbox, smtp  # noqa: F401 (the fixture)
from tests.support.receiver import webhook_receiver
from tests.support.settings import make_settings
from tests.support.world import SYSTEM

ROOT = Path(__file__).resolve().parents[2]
SECRET = "webhook-secret-for-tests-0123456789"
LOOKBACK = timedelta(hours=24)
runner = CliRunner()

# Alertmanager's webhook payload, version 4, as its documentation gives it.
ALERTMANAGER_V4 = {
    "type": "object",
    "required": [
        "version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
        "commonLabels", "commonAnnotations", "externalURL", "alerts",
    ],
    "properties": {
        "version": {"const": "4"},
        "groupKey": {"type": "string"},
        "truncatedAlerts": {"type": "integer", "minimum": 0},
        "status": {"enum": ["firing", "resolved"]},
        "receiver": {"type": "string"},
        "groupLabels": {"type": "object", "additionalProperties": {"type": "string"}},
        "commonLabels": {"type": "object", "additionalProperties": {"type": "string"}},
        "commonAnnotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "externalURL": {"type": "string"},
        "alerts": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": [
                    "status", "labels", "annotations", "startsAt", "endsAt", "generatorURL",
                    "fingerprint",
                ],
                "properties": {
                    "status": {"enum": ["firing", "resolved"]},
                    "labels": {
                        "type": "object",
                        "required": ["alertname"],
                        "additionalProperties": {"type": "string"},
                    },
                    "annotations": {
                        "type": "object", "additionalProperties": {"type": "string"},
                    },
                    "startsAt": {"type": "string", "format": "date-time"},
                    "endsAt": {"type": "string"},
                    "generatorURL": {"type": "string"},
                    "fingerprint": {"type": "string"},
                },
            },
        },
    },
}  # fmt: skip


def _routes_file(tmp_path: Path, url: str, *, to: str | None = None, repeat: str = "1h") -> Path:
    email = f"\n  - name: mail\n    email:\n      to: [{to}]" if to else ""
    receivers = "[hook, mail]" if to else "[hook]"
    path = tmp_path / "alerts.yaml"
    path.write_text(
        f"""receivers:
  - name: hook
    webhook:
      url: {url}{email}
routes:
  - name: critical
    owner: platform_admin
    match:
      severity: [critical]
    receivers: {receivers}
    repeat_interval: {repeat}
""",
        encoding="utf-8",
    )
    return path


def _parts(db: Database, path: Path, **settings: object) -> Parts:
    return make_parts(
        db, alert_routes_file=str(path), alert_webhook_secret=SECRET,
        alert_webhook_timeout_seconds=1, **settings,
    )  # fmt: skip


def _deliver(parts: Parts) -> dict[str, int]:
    """Run the due delivery jobs the way a worker does; their new states."""
    outcome: dict[str, int] = {}
    for job in claim(parts.db, "test-alerts", limit=50, now=utcnow() + timedelta(hours=2)):
        state = run_claimed(parts, WORK.registry, job)
        outcome[state] = outcome.get(state, 0) + 1
    return outcome


def _notifications(db: Database) -> list[AlertNotification]:
    with db.read() as session:
        return list(
            session.scalars(select(AlertNotification).order_by(AlertNotification.created_at))
        )


# --- The routes file --------------------------------------------------------------------


def test_the_example_routes_file_is_valid() -> None:
    text = (ROOT / "docs" / "monitoring" / "alerts.example.yaml").read_text()
    routes = parse_alert_routes(text, "example", make_settings(alert_webhook_secret=SECRET))
    assert [route.name for route in routes.routes] == ["critical", "money", "everything-else"]
    assert [r.name for r in routes.matching("payments.mismatch", "critical")] == ["critical"]
    assert [r.name for r in routes.matching("payments.stale_pending", "high")] == [
        "money", "everything-else",
    ]  # fmt: skip
    assert routes.matching("identity.signin_failures", "low") == []


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "receivers:\n  - name: a\n    webhook:\n      url: http://x/\nroutes:\n"
            "  - name: r\n    owner: platform_admin\n    receivers: [a, nobody]\n",
            "line 8: route r names an unknown receiver nobody",
        ),
        (
            "receivers:\n  - name: a\n    webhook:\n      url: http://x/\nroutes:\n"
            "  - name: r\n    owner: platform_admin\n    match:\n      severity: [urgent]\n"
            "    receivers: [a]\n",
            "line 9: routes.0.match.severity.0",
        ),
        (
            "receivers:\n  - name: a\n    webhook:\n      url: http://x/\nroutes:\n"
            "  - name: r\n    owner: platform_admin\n    match:\n      code: ['pay ments']\n"
            "    receivers: [a]\n",
            "line 9: routes.0.match.code",
        ),
        (
            "receivers:\n  - name: a\n    webhook:\n      url: http://x/\n    email:\n"
            "      to: [a@b.example]\nroutes:\n  - name: r\n    owner: platform_admin\n"
            "    receivers: [a]\n",
            "line 2: receivers.0: Value error, a receiver has exactly one",
        ),
        (
            "receivers:\n  - name: a\n    webhook:\n      url: http://x/\nroutes:\n"
            "  - name: r\n    owner: platform_admin\n    receivers: [a]\n"
            "    repeat_interval: soon\n",
            "line 9: routes.0.repeat_interval",
        ),
        ("receivers: [\n", "line 2: not YAML"),
    ],
)
def test_a_routes_file_mistake_names_its_line(text: str, said: str) -> None:
    with pytest.raises(AlertRoutesError) as refused:
        parse_alert_routes(text, "alerts.yaml", make_settings())
    assert said in str(refused.value)
    assert str(refused.value).startswith("alerts.yaml")


def test_a_bad_routes_file_refuses_the_start(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text("receivers: []\nroutes: []\n")
    env = {"DARVAZA_ALERT_ROUTES_FILE": str(path), "DARVAZA_DATABASE_URL": "sqlite://"}
    for command in (["serve"], ["worker"], ["config", "check"]):
        result = runner.invoke(cli, command, env=env)
        assert result.exit_code == 1, (command, result.output)
        assert "alerts.yaml, line 1: receivers" in result.output
    unsigned = tmp_path / "unsigned.yaml"
    _routes_file(tmp_path, "https://hooks.example/x").rename(unsigned)
    with pytest.raises(AlertRoutesError, match="DARVAZA_ALERT_WEBHOOK_SECRET"):
        parse_alert_routes(unsigned.read_text(), "unsigned.yaml", make_settings(profile="staging"))


# --- Delivery ---------------------------------------------------------------------------


def test_a_critical_finding_reaches_the_webhook_signed_in_alertmanagers_format(
    db: Database, tmp_path: Path
) -> None:
    with webhook_receiver() as receiver:
        parts = _parts(db, _routes_file(tmp_path, receiver.url))
        run(parts, "jobs.no_worker")
        routes = parts.get(AlertRoutes)
        assert dispatch_alerts(db, routes, lookback=LOOKBACK) == 1
        assert dispatch_alerts(db, routes, lookback=LOOKBACK) == 0  # sent this episode
        assert _deliver(parts) == {"succeeded": 1}
        (got,) = receiver.received
    body = got.json()
    jsonschema_rs.validator_for(ALERTMANAGER_V4).validate(body)
    expected = hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Darvaza-Signature"] == f"sha256={expected}"
    (alert,) = body["alerts"]
    assert (body["status"], body["receiver"]) == ("firing", "hook")
    assert alert["labels"]["alertname"] == "jobs.no_worker"
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["owner"] == "platform_admin"
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert alert["annotations"]["playbook"] == "docs/playbooks/jobs.no_worker.md"
    assert alert["annotations"]["first_step"].startswith("Start a worker")
    (sent,) = _notifications(db)
    assert (sent.state, sent.attempts) == ("sent", 1)


def _alert_routes(parts: Parts) -> AlertRoutes:
    return parts.get(AlertRoutes)


@pytest.mark.parametrize("failure", ["down", "500", "redirect", "slow"])
def test_a_failing_receiver_is_retried_and_a_dead_delivery_is_a_finding(
    db: Database, tmp_path: Path, failure: str
) -> None:
    with webhook_receiver() as receiver:
        url = receiver.url
        if failure == "down":
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                url = f"http://127.0.0.1:{probe.getsockname()[1]}/hook"
        receiver.answer = {"500": 500, "redirect": 302}.get(failure, 200)
        receiver.delay_seconds = 2.0 if failure == "slow" else 0.0
        parts = _parts(db, _routes_file(tmp_path, url))
        run(parts, "jobs.no_worker")
        dispatch_alerts(db, _alert_routes(parts), lookback=LOOKBACK)
        assert _deliver(parts) == {"queued": 1}  # retried later, with backoff
        (pending,) = _notifications(db)
        assert (pending.state, pending.attempts) == ("pending", 1)
        assert pending.last_error
        with db.transaction() as session:  # the last attempt comes
            job = session.scalars(select(Job).where(Job.kind == "alerts.deliver")).one()
            job.attempts = job.max_attempts - 1
        assert _deliver(parts) == {"dead": 1}
        (dead,) = _notifications(db)
        assert dead.state == "dead"
        run(parts, "alerts.undelivered")
        assert states(db, "alerts.undelivered") == {"critical/hook": "open"}
        # Fixed and retried: delivered after all; nothing was lost.
        receiver.answer, receiver.delay_seconds = 200, 0.0
        if failure != "down":
            retry_job(db, SYSTEM, job.id)
            assert _deliver(parts) == {"succeeded": 1}
            assert _notifications(db)[0].state == "sent"
            assert receiver.received[-1].json()["alerts"][0]["labels"]["alertname"] == (
                "jobs.no_worker"
            )


def test_open_findings_repeat_after_the_interval_and_their_resolution_is_sent(
    db: Database, tmp_path: Path
) -> None:
    with webhook_receiver() as receiver:
        parts = _parts(db, _routes_file(tmp_path, receiver.url, repeat="30m"))
        routes = _alert_routes(parts)
        now = utcnow()
        run(parts, "jobs.no_worker", now=now)
        assert dispatch_alerts(db, routes, lookback=LOOKBACK, now=now) == 1
        assert dispatch_alerts(db, routes, lookback=LOOKBACK, now=now + timedelta(minutes=20)) == 0
        assert dispatch_alerts(db, routes, lookback=LOOKBACK, now=now + timedelta(minutes=31)) == 1
        finding = findings(db, "jobs.no_worker")["workers"]
        acknowledge_finding(
            db, finding.id, actor=Actor.system("t"), who="t", reason="on it",
            until=now + timedelta(hours=5), max_days=7, now=now + timedelta(minutes=32),
        )  # fmt: skip
        quiet = now + timedelta(hours=2)
        assert dispatch_alerts(db, routes, lookback=LOOKBACK, now=quiet) == 0  # acknowledged
        # A worker comes: the finding resolves, and the resolution is sent, once.
        with db.transaction() as session:
            session.add(WorkerHeartbeat(
                id="w1", host="h", pid=1, queues="default", concurrency=1, state="running",
                started_at=utcnow(), last_seen_at=utcnow(),
            ))  # fmt: skip
        run(parts, "jobs.no_worker")
        later = now + timedelta(hours=3)
        assert dispatch_alerts(db, routes, lookback=LOOKBACK, now=later) == 1
        assert dispatch_alerts(db, routes, lookback=LOOKBACK, now=later) == 0
        assert _deliver(parts) == {"succeeded": 3}
        statuses = [got.json()["status"] for got in receiver.received]
        assert statuses == ["firing", "firing", "resolved"]
        resolved = receiver.received[-1].json()["alerts"][0]
        assert resolved["endsAt"] != "0001-01-01T00:00:00Z"


def test_concurrent_dispatches_queue_one_alert(db: Database, tmp_path: Path) -> None:
    with webhook_receiver() as receiver:
        parts = _parts(db, _routes_file(tmp_path, receiver.url))
        run(parts, "jobs.no_worker")
        counts: list[int] = []
        barrier = threading.Barrier(4)

        def dispatch() -> None:
            barrier.wait()
            counts.append(dispatch_alerts(db, _alert_routes(parts), lookback=LOOKBACK))

        threads = [threading.Thread(target=dispatch) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(counts) == [0, 0, 0, 1]
    assert len(_notifications(db)) == 1


def test_an_alert_reaches_a_real_smtp_server(
    db: Database,
    tmp_path: Path,
    smtp: tuple[Inbox, int],  # noqa: F811 (the fixture)
) -> None:
    inbox, port = smtp
    with webhook_receiver() as receiver:
        parts = _parts(
            db, _routes_file(tmp_path, receiver.url, to="oncall@example.com"),
            mail_backend="smtp", smtp_host="127.0.0.1", smtp_port=port, smtp_tls="none",
            mail_from="Darvaza <alerts@darvaza.test>",
        )  # fmt: skip
        run(parts, "jobs.no_worker")
        assert dispatch_alerts(db, _alert_routes(parts), lookback=LOOKBACK) == 2
        inbox.refuse = True
        assert _deliver(parts) == {"succeeded": 1, "queued": 1}  # the webhook took it
        inbox.refuse = False
        assert _deliver(parts) == {"succeeded": 1}
    (message,) = inbox.to("oncall@example.com")
    assert "FIRING critical jobs.no_worker" in message["Subject"]
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert "First steps:\n1. Start a worker" in body.decode().replace("\r\n", "\n")


# --- `darvaza alerts test` --------------------------------------------------------------


def test_alerts_test_proves_a_route_and_records_evidence(db: Database, tmp_path: Path) -> None:
    with webhook_receiver() as receiver:
        env = {
            "DARVAZA_DATABASE_URL": db.url.render_as_string(hide_password=False),
            "DARVAZA_ALERT_ROUTES_FILE": str(_routes_file(tmp_path, receiver.url)),
            "DARVAZA_ALERT_WEBHOOK_SECRET": SECRET,
            "DARVAZA_ALERT_WEBHOOK_TIMEOUT_SECONDS": "1",
        }
        passed = runner.invoke(cli, ["alerts", "test", "--route", "critical"], env=env)
        assert passed.exit_code == 0, passed.output
        assert "hook (webhook): delivered to" in passed.output
        assert receiver.received[0].json()["alerts"][0]["labels"]["alertname"] == "alerts.test"
        receiver.answer = 500
        failed = runner.invoke(cli, ["alerts", "test", "--route", "critical"], env=env)
        assert failed.exit_code == 1
        assert "answered 500" in failed.output
        unknown = runner.invoke(cli, ["alerts", "test", "--route", "nope"], env=env)
        assert unknown.exit_code == 2
        listed = runner.invoke(cli, ["alerts", "routes"], env=env)
        assert listed.exit_code == 0
        assert "critical" in listed.output
        assert "Not routed anywhere" in listed.output  # high checks have no route here
    with db.read() as session:
        recorded = session.scalars(
            select(Evidence).where(Evidence.kind == "alert_test").order_by(Evidence.recorded_at)
        ).all()
    assert [(e.name, e.result) for e in recorded] == [
        ("critical", "passed"), ("critical", "failed"),
    ]  # fmt: skip
    assert recorded[1].details["receivers"]["hook"].startswith("failed")
