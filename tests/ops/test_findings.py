"""Findings: one per fingerprint, opened, refreshed, resolved and reopened by check runs;
acknowledged until a time that, once past, reopens them; a check that raises changes
nothing and hides nothing; concurrent runs never make two."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from darvaza.checks import (
    Check,
    CheckContext,
    CheckSet,
    Observation,
    Outcome,
    Subject,
    fingerprint,
    fingerprint_inputs,
)
from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.errors import InvalidInput, NotFound
from darvaza.ops.models import OpsCheckRun, OpsFinding, OpsFindingEvent
from darvaza.ops.service import (
    acknowledge_finding,
    get_finding,
    ops_summary,
    run_check,
    run_checks,
)
from darvaza.parts import Parts
from darvaza.security.caller import Actor
from darvaza.states import IllegalTransition
from tests.support.jobs import parts as make_parts

MINUTE = timedelta(minutes=1)
ACTOR = Actor.system("test")


class Seen:
    """What a test check sees: set by the test between runs."""

    def __init__(self, *subjects: str) -> None:
        self.subjects = list(subjects)
        self.examined: frozenset[str] | None = None
        self.fail = False

    def observe(self, _context: CheckContext) -> Outcome:
        if self.fail:
            raise RuntimeError("the check could not look")
        observations = [
            Observation(Subject("thing", s, None), {"n": i}) for i, s in enumerate(self.subjects)
        ]
        return Outcome(observations, self.examined)


def _check(seen: Seen, code: str = "test.things", severity: str = "high") -> Check:
    return Check(code, severity, "Things are wrong", MINUTE, seen.observe)  # type: ignore[arg-type]


def _findings(db: Database, code: str = "test.things") -> dict[str, OpsFinding]:
    with db.read() as session:
        rows = session.scalars(select(OpsFinding).where(OpsFinding.code == code)).all()
    return {row.subject_id: row for row in rows}


def _events(db: Database, finding: OpsFinding) -> list[str]:
    return [event.kind for event in get_finding(db, finding.id)[1]]


@pytest.fixture
def parts(db: Database) -> Parts:
    return make_parts(db)


def test_a_finding_opens_is_refreshed_resolves_and_reopens(db: Database, parts: Parts) -> None:
    seen = Seen("a", "b")
    check = _check(seen)
    now = utcnow()
    report = run_check(parts, check, now=now)
    assert (report.opened, report.resolved) == (2, 0)
    first = _findings(db)
    assert {s: f.state for s, f in first.items()} == {"a": "open", "b": "open"}
    # The fingerprint is the hash of the inputs kept beside it.
    a = first["a"]
    assert a.inputs == {"code": "test.things", "subject_type": "thing", "subject_id": "a"}
    assert a.fingerprint == fingerprint(fingerprint_inputs("test.things", Subject("thing", "a")))

    seen.subjects = ["a"]
    report = run_check(parts, check, now=now + MINUTE)
    assert (report.opened, report.resolved, report.observed) == (0, 1, 1)
    second = _findings(db)
    assert second["a"].observations == 2
    assert second["a"].last_seen_at == now + MINUTE
    assert second["a"].first_seen_at == now
    assert (second["b"].state, second["b"].resolved_at) == ("resolved", now + MINUTE)

    seen.subjects = ["a", "b"]
    report = run_check(parts, check, now=now + 2 * MINUTE)
    assert (report.opened, report.reopened) == (0, 1)
    third = _findings(db)
    assert (third["b"].state, third["b"].recurrences) == ("open", 1)
    assert third["b"].opened_at == now + 2 * MINUTE
    assert third["b"].resolved_at is None
    assert len(third) == 2  # one row per fingerprint, however often seen
    assert _events(db, third["b"]) == ["opened", "resolved", "reopened"]


def test_a_check_that_raises_is_an_error_not_an_all_clear(db: Database, parts: Parts) -> None:
    seen = Seen("a")
    other = Seen("x")
    checks = [_check(seen), _check(other, code="test.others")]
    run_checks(parts, checks)
    seen.fail = True
    other.subjects = []
    reports = {report.code: report for report in run_checks(parts, checks)}
    assert reports["test.things"].error is not None
    assert "the check could not look" in reports["test.things"].error
    assert reports["test.others"].resolved == 1  # the failure hid nothing
    assert _findings(db)["a"].state == "open"  # and resolved nothing
    with db.read() as session:
        run = session.get(OpsCheckRun, "test.things")
    assert run is not None
    assert "RuntimeError" in (run.error or "")
    summary = ops_summary(db, parts.settings, CheckSet(checks))
    erroring = {status.check.code: status.error for status in summary.checks}
    assert erroring["test.things"] == "RuntimeError: the check could not look"
    assert erroring["test.others"] is None


def test_a_rolling_check_resolves_only_what_it_examined(db: Database, parts: Parts) -> None:
    seen = Seen("a", "b")
    check = _check(seen)
    run_check(parts, check)
    seen.subjects, seen.examined = [], frozenset({"a"})
    run_check(parts, check)
    states = {s: f.state for s, f in _findings(db).items()}
    assert states == {"a": "resolved", "b": "open"}


def test_a_run_older_than_the_last_applied_is_dropped(db: Database, parts: Parts) -> None:
    seen = Seen("a")
    check = _check(seen)
    now = utcnow()
    run_check(parts, check, now=now)
    seen.subjects = []
    report = run_check(parts, check, now=now - MINUTE)  # started before the one applied
    assert not report.applied
    assert _findings(db)["a"].state == "open"


def test_concurrent_runs_make_one_finding_per_fingerprint(db: Database) -> None:
    seen = Seen(*[f"s{i}" for i in range(20)])
    check = _check(seen)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run() -> None:
        own = make_parts(db)
        try:
            barrier.wait()
            for _ in range(3):
                run_check(own, check)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.read() as session:
        rows = session.scalars(select(OpsFinding)).all()
        opened = session.scalars(
            select(OpsFindingEvent).where(OpsFindingEvent.kind == "opened")
        ).all()
    assert len(rows) == 20
    assert len(opened) == 20  # each opened once
    assert all(row.state == "open" for row in rows)


def test_acknowledging_quiets_until_it_runs_out(db: Database, parts: Parts) -> None:
    seen = Seen("a")
    check = _check(seen, severity="critical")
    checks = CheckSet([check])
    now = utcnow()
    run_check(parts, check, now=now)
    finding = _findings(db)["a"]
    assert ops_summary(db, parts.settings, checks, now=now).status == "critical"

    until = now + timedelta(hours=2)
    acknowledged = acknowledge_finding(
        db, finding.id, actor=ACTOR, who="ops@example.com", reason="on it, case 12",
        until=until, max_days=7, now=now,
    )  # fmt: skip
    assert (acknowledged.state, acknowledged.acknowledged_until) == ("acknowledged", until)
    summary = ops_summary(db, parts.settings, checks, now=now + MINUTE)
    assert summary.status == "degraded"  # someone is on it, but it is not fixed
    assert [v.state for v in summary.findings] == ["acknowledged"]

    # Past the time: the summary reads it open at once, and the next run reopens it.
    later = until + MINUTE
    assert ops_summary(db, parts.settings, checks, now=later).findings[0].state == "open"
    run_checks(parts, [check], now=later)
    reopened = _findings(db)["a"]
    assert reopened.state == "open"
    assert reopened.acknowledged_by is None
    assert _events(db, reopened) == ["opened", "acknowledged", "acknowledgement_expired"]


def test_acknowledging_what_is_unknown_or_resolved_is_refused(db: Database, parts: Parts) -> None:
    seen = Seen("a")
    check = _check(seen)
    run_check(parts, check)
    until = utcnow() + timedelta(hours=1)
    ack = {"actor": ACTOR, "who": "x", "reason": "r", "max_days": 7}
    with pytest.raises(InvalidInput):
        acknowledge_finding(db, _findings(db)["a"].id, until=utcnow() - MINUTE, **ack)
    with pytest.raises(InvalidInput):
        acknowledge_finding(db, _findings(db)["a"].id, until=utcnow() + timedelta(days=8), **ack)
    with pytest.raises(NotFound):
        acknowledge_finding(db, uuid.uuid4(), until=until, **ack)
    seen.subjects = []
    run_check(parts, check)
    with pytest.raises(IllegalTransition):
        acknowledge_finding(db, _findings(db)["a"].id, until=until, **ack)


def test_the_summary_claims_nothing_is_wrong_only_when_every_check_is_fresh(
    db: Database, parts: Parts
) -> None:
    quiet, loud = Seen(), Seen("a")
    checks = CheckSet([_check(quiet), _check(loud, code="test.loud", severity="low")])
    now = utcnow()
    never_ran = ops_summary(db, parts.settings, checks, now=now)
    assert never_ran.status == "degraded"
    assert all(status.stale for status in never_ran.checks)
    run_checks(parts, list(checks), now=now)
    loud.subjects = []
    run_checks(parts, list(checks), now=now + MINUTE)
    fresh = ops_summary(db, parts.settings, checks, now=now + 2 * MINUTE)
    assert (fresh.status, fresh.all_checks_fresh, fresh.findings) == ("ok", True, [])
    # Not run for longer than twice its interval and a minute: stale, so not "ok".
    late = ops_summary(db, parts.settings, checks, now=now + 5 * MINUTE)
    assert late.status == "degraded"
    assert not late.all_checks_fresh


def test_findings_are_ordered_worst_first_then_oldest(db: Database, parts: Parts) -> None:
    now = utcnow()
    made: list[tuple[str, str, Callable[[Any], Any]]] = []
    for code, severity in (("test.low", "low"), ("test.crit", "critical"), ("test.mid", "medium")):
        seen = Seen("a")
        made.append((code, severity, seen.observe))
    checks = CheckSet(Check(c, s, "t", MINUTE, o) for c, s, o in made)  # type: ignore[arg-type]
    for offset, check in enumerate(checks):
        run_check(parts, check, now=now + offset * timedelta(seconds=1))
    summary = ops_summary(db, parts.settings, checks, now=now + MINUTE)
    assert [v.finding.code for v in summary.findings] == ["test.crit", "test.mid", "test.low"]
    assert summary.counts()["by_severity"] == {"critical": 1, "high": 0, "medium": 1, "low": 1}
