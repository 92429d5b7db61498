"""Liveness and readiness, including a database that goes away and comes back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy.engine import make_url
from starlette.types import ASGIApp

from darvaza.app import create_app
from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.http import PartsDep
from darvaza.jobs.models import WorkerHeartbeat
from tests.support.settings import make_settings
from tests.support.tcp_proxy import TcpProxy


def test_ready_when_database_answers_and_schema_is_current(
    database_url: str, serve: Callable[[ASGIApp], str]
) -> None:
    base = serve(create_app(make_settings(database_url=database_url)))
    response = httpx.get(base + "/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "migrations", "workers"}
    assert body["checks"]["workers"]["detail"] == "no worker running"
    assert all(check["ok"] for check in body["checks"].values())
    assert "error" not in body


def test_not_ready_while_a_migration_is_pending(
    empty_database_url: str, serve: Callable[[ASGIApp], str]
) -> None:
    base = serve(create_app(make_settings(database_url=empty_database_url)))
    response = httpx.get(base + "/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["error"]["code"] == "not_ready"
    assert body["error"]["request_id"] == response.headers["x-request-id"]
    assert "migrations" in body["error"]["message"]
    assert body["status"] == "not_ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["migrations"]["ok"] is False
    assert "migration pending" in body["checks"]["migrations"]["detail"]
    assert httpx.get(base + "/health").status_code == 200


def test_database_outage_is_reported_and_recovered_from(
    backend: str, database_url: str, serve: Callable[[ASGIApp], str]
) -> None:
    """PostgreSQL behind a proxy the test cuts: /ready says 503 quickly and keeps no
    internals in its body, a route that needs the database answers 503 (not a 500),
    /health stays 200, and all recover once it is back."""
    if backend != "postgresql":
        pytest.skip("an outage needs a database on the network")
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    try:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        settings = make_settings(
            database_url=proxied, database_connect_timeout_seconds=2, readiness_timeout_seconds=3
        )
        app = create_app(settings)
        probe = APIRouter()

        @probe.get("/probe/db")
        def uses_database(parts: PartsDep) -> dict[str, bool]:
            parts.db.ping()
            return {"ok": True}

        app.include_router(probe)
        base = serve(app)
        assert httpx.get(base + "/ready").status_code == 200
        assert httpx.get(base + "/probe/db").status_code == 200

        proxy.cut()
        started = time.monotonic()
        down = httpx.get(base + "/ready", timeout=30)
        assert down.status_code == 503
        assert time.monotonic() - started < 15
        body = down.json()
        assert body["error"]["code"] == "not_ready"
        assert body["checks"]["database"]["ok"] is False
        assert "127.0.0.1" not in down.text
        assert str(proxy.port) not in down.text
        assert httpx.get(base + "/health").status_code == 200
        unavailable = httpx.get(base + "/probe/db", timeout=30)
        assert unavailable.status_code == 503
        assert unavailable.json()["error"]["code"] == "unavailable"
        assert unavailable.headers["retry-after"] == "5"
        assert "127.0.0.1" not in unavailable.text

        proxy.restore()
        deadline = time.monotonic() + 20
        while (status := httpx.get(base + "/ready", timeout=30).status_code) != 200:
            assert time.monotonic() < deadline, "readiness did not come back"
            time.sleep(0.2)
        assert status == 200
        assert httpx.get(base + "/probe/db").status_code == 200
    finally:
        proxy.close()


def test_readiness_includes_redis_when_rate_limits_live_there(
    database_url: str, serve: Callable[[ASGIApp], str]
) -> None:
    broken = make_settings(database_url=database_url, redis_url="redis://127.0.0.1:1/0")
    response = httpx.get(serve(create_app(broken)) + "/ready", timeout=30)
    assert response.status_code == 503
    assert response.json()["checks"]["rate_limit_store"]["ok"] is False
    assert response.json()["checks"]["database"]["ok"] is True


def _failures_logged(captured: str) -> dict[str, str]:
    """check -> reason, from the JSON log lines `readiness_check_failed`."""
    lines = [json.loads(line) for line in captured.splitlines() if line.startswith("{")]
    return {
        line["check"]: line["reason"]
        for line in lines
        if line.get("event") == "readiness_check_failed"
    }


def test_outside_local_no_live_worker_is_not_ready_and_says_why_in_the_log(
    capfd: pytest.CaptureFixture[str], database_url: str, serve: Callable[[ASGIApp], str]
) -> None:
    # capfd first: it is set up before the server and torn down after it stops.
    staging = make_settings(
        database_url=database_url, profile="staging", secret_key="k" * 32, audit_key="a" * 40,
        public_url="https://members.example.com",
    )  # fmt: skip
    base = serve(create_app(staging))
    capfd.readouterr()
    response = httpx.get(base + "/ready")
    assert response.status_code == 503
    workers = response.json()["checks"]["workers"]
    assert workers["ok"] is False
    assert workers["detail"].startswith("no worker running: start `darvaza worker`")
    assert _failures_logged(capfd.readouterr().err) == {"workers": workers["detail"]}

    now = utcnow()
    with Database(database_url).transaction() as session:
        session.add(
            WorkerHeartbeat(
                id="host:1:test", host="host", pid=1, queues="default", concurrency=1,
                state="running", started_at=now, last_seen_at=now,
            )
        )  # fmt: skip
    again = httpx.get(base + "/ready")
    assert again.status_code == 200, again.text
    assert again.json()["checks"]["workers"]["detail"] == "1 live, 0 gone"


def test_a_pending_migration_is_logged_with_its_reason(
    capfd: pytest.CaptureFixture[str], empty_database_url: str, serve: Callable[[ASGIApp], str]
) -> None:
    base = serve(create_app(make_settings(database_url=empty_database_url)))
    capfd.readouterr()
    assert httpx.get(base + "/ready").status_code == 503
    assert "migration pending" in _failures_logged(capfd.readouterr().err)["migrations"]
