"""Operating the queue over HTTP and from the command line: list with filters, retry and
cancel (audited, refused where unsafe), workers, enqueue-ops, and the queue's metrics."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from typer.testing import CliRunner

from darvaza.audit.models import AuditEvent
from darvaza.cli import app as cli
from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.jobs.models import Job
from darvaza.jobs.queue import claim, enqueue, fail
from darvaza.jobs.registry import JobKind, Registry
from darvaza.jobs.worker import WorkerConfig
from darvaza.security.roles import PlatformRole
from tests.support.jobs import worker_thread
from tests.support.world import Api, admin_token, error_code, person

runner = CliRunner()


def _dead_job(db: Database, kind: str = "test.broken") -> int:
    with db.transaction() as session:
        job_id = enqueue(session, kind, {"order": "dz-1"}, max_attempts=1)
    assert job_id is not None
    (claimed,) = claim(db, "w1")
    assert fail(db, claimed, "Traceback ...\nRuntimeError: gateway down") == "dead"
    return job_id


def _queued_job(db: Database, kind: str = "test.later") -> int:
    with db.transaction() as session:
        job_id = enqueue(session, kind, run_at=utcnow() + timedelta(hours=1))
    assert job_id is not None
    return job_id


def _actions(db: Database, prefix: str) -> list[str]:
    with db.read() as session:
        return list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.action.startswith(prefix))
                .order_by(AuditEvent.id)
            )
        )


def test_list_filter_retry_and_cancel_over_http(api: Api) -> None:
    token = admin_token(api.db)
    dead = _dead_job(api.db)
    queued = _queued_job(api.db)
    listed = api.call("GET", "/api/v1/admin/jobs", token)
    assert listed.status_code == 200
    assert [job["id"] for job in listed.json()["items"]] == [queued, dead]
    only_dead = api.call("GET", "/api/v1/admin/jobs?state=dead", token).json()["items"]
    assert [job["id"] for job in only_dead] == [dead]
    assert "gateway down" in only_dead[0]["last_error"]
    by_kind = api.call("GET", "/api/v1/admin/jobs?kind=test.later", token).json()["items"]
    assert [job["id"] for job in by_kind] == [queued]
    page = api.call("GET", "/api/v1/admin/jobs?limit=1", token).json()
    assert page["next_cursor"] == str(queued)
    rest = api.call("GET", f"/api/v1/admin/jobs?limit=1&cursor={page['next_cursor']}", token)
    assert [job["id"] for job in rest.json()["items"]] == [dead]

    retried = api.call(
        "POST", f"/api/v1/admin/jobs/{dead}/retry", token, json={"reason": "gateway is back"}
    )
    assert retried.status_code == 200, retried.text
    body = retried.json()
    assert (body["state"], body["max_attempts"], body["finished_at"]) == ("queued", 2, None)

    cancelled = api.call("POST", f"/api/v1/admin/jobs/{queued}/cancel", token)
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled"
    again = api.call("POST", f"/api/v1/admin/jobs/{queued}/cancel", token)
    assert (again.status_code, error_code(again)) == (409, "job_not_cancellable")
    assert _actions(api.db, "job.") == ["job.retried", "job.cancelled"]
    with api.db.read() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "job.retried")).one()
    assert (event.reason, event.target_id, event.data["was"]) == (
        "gateway is back",
        str(dead),
        "dead",
    )


def test_running_and_unknown_jobs_are_refused(api: Api) -> None:
    token = admin_token(api.db)
    with api.db.transaction() as session:
        job_id = enqueue(session, "test.busy")
    claim(api.db, "w1")
    for action in ("retry", "cancel"):
        response = api.call("POST", f"/api/v1/admin/jobs/{job_id}/{action}", token)
        assert response.status_code == 409
    missing = api.call("POST", "/api/v1/admin/jobs/999999/retry", token)
    assert (missing.status_code, error_code(missing)) == (404, "not_found")
    not_a_number = api.call("POST", "/api/v1/admin/jobs/abc/retry", token)
    assert (not_a_number.status_code, error_code(not_a_number)) == (404, "not_found")
    # A path with a POST but no GET is a 405 that names the method, not a 422 for a bad id.
    wrong_method = api.call("GET", "/api/v1/admin/jobs/enqueue-ops", token)
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
    for path in ("/retry", "/cancel", ""):  # past the database's integer: was a 500
        method = "POST" if path else "GET"
        huge = api.call(method, f"/api/v1/admin/jobs/110041564694817510785024{path}", token)
        assert (huge.status_code, error_code(huge)) == (422, "validation_error"), huge.text
    bad_state = api.call("GET", "/api/v1/admin/jobs?state=exploded", token)
    assert bad_state.status_code == 422
    naive = api.call("GET", "/api/v1/admin/jobs?since=2026-01-01T00:00:00", token)
    assert (naive.status_code, error_code(naive)) == (422, "validation_error")
    for not_a_time in ("0.5", "1700000000", "yesterday"):  # "0.5" was read as 1970
        response = api.call("GET", f"/api/v1/admin/jobs?until={not_a_time}", token)
        assert (response.status_code, error_code(response)) == (422, "validation_error")
    aware = api.call("GET", "/api/v1/admin/jobs?since=2026-01-01T00:00:00%2B03:30", token)
    assert aware.status_code == 200
    with api.db.read() as session:
        job = session.get(Job, job_id)
        assert job is not None
        assert job.state == "running"


def test_a_retry_is_refused_while_another_job_holds_its_unique_key(api: Api) -> None:
    token = admin_token(api.db)
    with api.db.transaction() as session:
        first = enqueue(session, "test.k", unique_key="k1", max_attempts=1)
    (claimed,) = claim(api.db, "w1")
    fail(api.db, claimed, "boom")
    with api.db.transaction() as session:
        enqueue(session, "test.k", unique_key="k1")
    response = api.call("POST", f"/api/v1/admin/jobs/{first}/retry", token)
    assert (response.status_code, error_code(response)) == (409, "job_duplicate")


def test_the_auditor_reads_but_cannot_act(api: Api) -> None:
    dead = _dead_job(api.db)
    auditor = api.login(person(api.db, PlatformRole.AUDITOR))
    assert api.call("GET", "/api/v1/admin/jobs", auditor).status_code == 200
    assert api.call("GET", "/api/v1/admin/workers", auditor).status_code == 200
    assert api.call("POST", f"/api/v1/admin/jobs/{dead}/retry", auditor).status_code == 403
    assert api.call("POST", "/api/v1/admin/jobs/enqueue-ops", auditor).status_code == 403


def test_workers_and_queue_metrics(api: Api) -> None:
    token = admin_token(api.db)
    _dead_job(api.db)
    with api.db.transaction() as session:  # waiting ten minutes: the queue lags
        enqueue(session, "test.nobody-runs-this", run_at=utcnow() - timedelta(minutes=10))
    metrics = api.call("GET", "/metrics").text
    assert 'darvaza_jobs{kind="test.broken",state="dead"} 1.0' in metrics
    lag = next(line for line in metrics.splitlines() if line.startswith("darvaza_job_queue_lag"))
    assert 590 < float(lag.split()[-1]) < 700
    assert 'darvaza_workers{state="live"} 0.0' in metrics

    ran: list[int] = []
    registry = Registry([JobKind("test.note", lambda _ctx, p: ran.append(p["n"]))])
    config = WorkerConfig(concurrency=1, poll_seconds=0.05)
    with worker_thread(api.db, registry, config) as worker:
        workers = api.call("GET", "/api/v1/admin/workers", token).json()
        assert [(w["id"], w["state"], w["gone"]) for w in workers] == [
            (worker.id, "running", False)
        ]
        ready = api.call("GET", "/ready").json()
        assert ready["checks"]["workers"]["detail"] == "1 live, 0 gone"
        assert 'darvaza_workers{state="live"} 1.0' in api.call("GET", "/metrics").text
    stopped = api.call("GET", "/api/v1/admin/workers?include_stopped=true", token).json()
    assert [w["state"] for w in stopped] == ["stopped"]
    assert api.call("GET", "/api/v1/admin/workers", token).json() == []


def test_a_silent_worker_is_reported_gone(api: Api) -> None:
    token = admin_token(api.db)
    registry = Registry([])
    with worker_thread(api.db, registry, WorkerConfig(poll_seconds=0.05)) as worker:
        from sqlalchemy import update

        from darvaza.jobs.models import WorkerHeartbeat

        with api.db.transaction() as session:  # as if it stopped writing an hour ago
            session.execute(
                update(WorkerHeartbeat)
                .where(WorkerHeartbeat.id == worker.id)
                .values(last_seen_at=utcnow() - timedelta(hours=1))
            )
        workers = api.call("GET", "/api/v1/admin/workers", token).json()
        assert [w["gone"] for w in workers] == [True]
        assert api.call("GET", "/ready").json()["checks"]["workers"]["detail"] == "0 live, 1 gone"
        env = {"DARVAZA_DATABASE_URL": api.db.url.render_as_string(hide_password=False)}
        result = runner.invoke(cli, ["jobs", "workers"], env=env)
        assert result.exit_code == 1
        assert "GONE" in result.output


def test_enqueue_ops_over_http(api: Api) -> None:
    token = admin_token(api.db)
    first = api.call("POST", "/api/v1/admin/jobs/enqueue-ops", token)
    assert first.status_code == 200
    assert set(first.json()) == {
        "payments.reconcile",
        "subscriptions.expire",
        "sessions.cleanup",
        "downloads.cleanup",
        "jobs.prune",
        "content.orphans_cleanup",
        "ops.check",
        "support.end_grants",
        "support.close_tickets",
        "incidents.catch_up",
        "exports.expire",
    }
    assert all(isinstance(v, int) for v in first.json().values())
    second = api.call("POST", "/api/v1/admin/jobs/enqueue-ops", token).json()
    assert set(second.values()) == {None}


def test_the_cli_lists_retries_cancels_and_enqueues(api: Api) -> None:
    env = {"DARVAZA_DATABASE_URL": api.db.url.render_as_string(hide_password=False)}
    dead = _dead_job(api.db)
    queued = _queued_job(api.db)
    listed = runner.invoke(cli, ["jobs", "list", "--state", "dead"], env=env)
    assert listed.exit_code == 0, listed.output
    assert f"{dead}  dead" in listed.output
    assert "RuntimeError: gateway down" in listed.output
    assert str(queued) not in listed.output.split()
    retried = runner.invoke(cli, ["jobs", "retry", str(dead), "--reason", "fixed"], env=env)
    assert retried.exit_code == 0, retried.output
    assert f"{dead}  queued" in retried.output
    cancelled = runner.invoke(cli, ["jobs", "cancel", str(queued)], env=env)
    assert cancelled.exit_code == 0
    refused = runner.invoke(cli, ["jobs", "cancel", str(queued)], env=env)
    assert refused.exit_code == 1
    assert "only a queued job can be cancelled" in refused.output
    ops = runner.invoke(cli, ["jobs", "enqueue-ops"], env=env)
    assert ops.exit_code == 0
    assert "payments.reconcile: job" in ops.output
    again = runner.invoke(cli, ["jobs", "enqueue-ops"], env=env)
    assert "payments.reconcile: already queued or running" in again.output
    assert _actions(api.db, "job") == [
        "job.retried",
        "job.cancelled",
        "jobs.ops_enqueued",
        "jobs.ops_enqueued",
    ]
