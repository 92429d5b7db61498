"""`darvaza incidents`: the whole path from the machine, declare to review, with the
evidence a rollback left behind; and `darvaza smoke incident-flow` against a real server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from starlette.types import ASGIApp
from typer.testing import CliRunner

from darvaza.cli import app as cli
from darvaza.db import Database
from darvaza.incidents.models import Incident
from darvaza.operations.service import Run, record_evidence
from darvaza.operations.smoke.incident_flow import run_incident_flow
from darvaza.security.caller import Actor
from tests.incidents.conftest import INCIDENTS, kinds
from tests.support.settings import make_settings
from tests.support.world import admin_token, make_app
from tests.support_desk.conftest import Desk

runner = CliRunner()


def _run(database_url: str, *args: str, code: int = 0) -> str:
    result = runner.invoke(cli, list(args), env={"DARVAZA_DATABASE_URL": database_url})
    assert result.exit_code == code, result.output
    return result.output


def test_declare_update_mitigate_resolve_review_from_the_machine(
    desk: Desk, database_url: str
) -> None:
    admin = desk.people["admin"].email
    started = (datetime.now(UTC) - timedelta(minutes=40)).isoformat()
    iid = _run(database_url, "incidents", "declare", "--title", "Downloads fail",
               "--severity", "sev2", "--commander", admin, "--component", "downloads",
               "--tenant", "acme", "--started-at", started).strip()  # fmt: skip
    shown = desk.ok("auditor", "GET", f"{INCIDENTS}/{iid}")
    assert (shown["severity"], shown["commander"], shown["tenants"]) == ("SEV2", admin, ["acme"])
    assert shown["declared_by"] is None

    posted = _run(database_url, "incidents", "update", iid, "--body", "Looking", "--public")
    assert "Next update due" in posted
    assert desk.mail_to(desk.people["owner"].email)

    refused = _run(database_url, "incidents", "mitigate", iid, "--kind", "rollback",
                   "--description", "Back one release", code=1)  # fmt: skip
    assert "names the evidence" in refused
    settings = make_settings(database_url=database_url)
    rollback = record_evidence(desk.api.db, settings, Actor.system("test"),
                               Run("rollback", "release", "passed"))  # fmt: skip
    _run(database_url, "incidents", "mitigate", iid, "--kind", "rollback", "--description",
         "Back one release", "--evidence", str(rollback.id), "--mark-mitigated")  # fmt: skip
    assert desk.ok("auditor", "GET", f"{INCIDENTS}/{iid}")["status"] == "mitigated"

    _run(database_url, "incidents", "resolve", iid, "--reason", "Downloads work")
    incomplete = _run(database_url, "incidents", "review", iid, "--summary", "x", code=1)
    assert "needs its impact notes" in incomplete
    _run(database_url, "incidents", "review", iid, "--summary", "A bad release",
         "--impact", "An hour of failed downloads", "--timeline", "Noticed in 10 min",
         "--root-causes", "No canary", "--went-well", "Rollback was quick",
         "--went-badly", "Nobody watched the errors",
         "--action", f"Add a canary step|{admin}|2099-01-31")  # fmt: skip
    listed = _run(database_url, "incidents", "list", "--status", "reviewed")
    assert iid in listed
    assert "SEV2" in listed
    story = _run(database_url, "incidents", "show", iid)
    for line in ("Downloads fail", "time_to_resolve", "Add a canary step", "Rollback (succeeded)",
                 "Public update: Looking"):  # fmt: skip
        assert line in story, line
    assert kinds(desk, iid) == ["declared", "update", "mitigation", "status", "status", "status",
                                "review"]  # fmt: skip
    bad = _run(database_url, "incidents", "show", "nope", code=1)
    assert "not an incident id" in bad


def test_the_smoke_check_passes_and_never_publishes(
    db: Database, database_url: str, serve: Callable[[ASGIApp], str]
) -> None:
    url = serve(make_app(database_url))
    token = admin_token(db)
    for _ in range(2):  # the fixture's accounts are reused
        report = run_incident_flow(url, token)
        assert report.deviations == []
        assert report.checks == 11
    with db.read() as session:
        published = session.scalars(select(Incident).where(Incident.published_at.is_not(None)))
        assert list(published) == []


def test_the_smoke_check_notices_an_unpublished_incident_on_the_status_page(
    db: Database, database_url: str, serve: Callable[[ASGIApp], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from darvaza.incidents import updates

    leaky = updates.public_status

    def everything(db: Database, *, days: int, now: datetime | None = None) -> Any:
        with db.transaction() as session:  # as if publishing were not needed
            for incident in session.scalars(select(Incident)):
                incident.published_at = incident.published_at or incident.declared_at
        return leaky(db, days=days, now=now)

    monkeypatch.setattr("darvaza.incidents.service.public_status", everything)
    monkeypatch.setattr("darvaza.incidents.routes.service.public_status", everything)
    report = run_incident_flow(serve(make_app(database_url)), admin_token(db))
    assert any("status page" in d for d in report.deviations), report.deviations
