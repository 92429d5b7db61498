"""The platform's own ops checks (schema, settings, disks, Redis), failed sign-ins and the
backup checks: each fires from a seeded condition, resolves when fixed and reopens."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from darvaza.audit.service import append_event
from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.operations.service import Run, record_evidence
from darvaza.parts import Parts
from darvaza.revisions import head_revisions
from darvaza.security.caller import Actor
from tests.support.checks import expect_cycle, findings, run, states
from tests.support.jobs import parts as make_parts

HEAD = sorted(head_revisions())[0]


def _schema_at(db: Database, revision: str) -> None:
    with db.transaction() as session:
        session.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


def test_a_schema_behind_the_code_is_critical(db: Database) -> None:
    parts = make_parts(db)
    _schema_at(db, "0014")
    run(parts, "platform.migrations_pending")
    finding = findings(db, "platform.migrations_pending")["schema"]
    assert finding.details == {"database_at": "0014", "code_expects": [HEAD]}
    expect_cycle(
        parts, "platform.migrations_pending", "schema",
        fix=lambda: _schema_at(db, HEAD), again=lambda: _schema_at(db, "0014"),
    )  # fmt: skip


def _flip(db: Database, code: str, bad: Parts, good: Parts, subject: str) -> None:
    """Open with `bad`, resolve with `good`, reopen with `bad`."""
    run(bad, code)
    assert states(db, code)[subject] == "open"
    run(good, code)
    assert states(db, code)[subject] == "resolved"
    run(bad, code)
    again = findings(db, code)[subject]
    assert (again.state, again.recurrences) == ("open", 1)


def test_settings_unsafe_for_the_profile_are_critical(db: Database) -> None:
    staging = make_parts(db, profile="staging")  # no secret key, no audit key, ...
    _flip(db, "platform.unsafe_settings", staging, make_parts(db), "settings")
    problems = findings(db, "platform.unsafe_settings")["settings"].details["problems"]
    assert any("DARVAZA_SECRET_KEY" in problem for problem in problems)


def test_low_free_disk_is_found_for_the_storage_folder(db: Database, tmp_path: Path) -> None:
    crowded = make_parts(db, ops_disk_free_percent=99.999, storage_dir=str(tmp_path))
    roomy = make_parts(db, ops_disk_free_percent=0.001, storage_dir=str(tmp_path))
    _flip(db, "platform.disk_low", crowded, roomy, "storage")
    watched = set(states(db, "platform.disk_low"))
    assert watched == ({"storage", "database"} if db.backend == "sqlite" else {"storage"})
    assert findings(db, "platform.disk_low")["storage"].details["floor_percent"] == 99.999


def test_redis_configured_but_unreachable(db: Database) -> None:
    down = make_parts(db, redis_url="redis://127.0.0.1:1/0")
    _flip(db, "platform.redis_unreachable", down, make_parts(db), "redis")


def test_a_spike_of_failed_sign_ins(db: Database) -> None:
    sensitive = make_parts(db, ops_signin_failures_threshold=3)
    with db.transaction() as session:
        for _ in range(3):
            append_event(session, action="auth.login.failed", actor=Actor.anonymous())
    _flip(db, "identity.signin_failures", sensitive,
          make_parts(db, ops_signin_failures_threshold=100), "sign-in")  # fmt: skip
    assert findings(db, "identity.signin_failures")["sign-in"].details["failed"] == 3


def _evidence(db: Database, parts: Parts, kind: str, result: str = "passed") -> None:
    record_evidence(db, parts.settings, Actor.system("test"), Run(kind, "nightly", result))


def test_no_recent_backup_or_restore_drill_stays_open_until_one_passes(db: Database) -> None:
    parts = make_parts(db)
    run(parts, "backups.missing")
    run(parts, "backups.restore_drill_missing")
    assert findings(db, "backups.missing")["backup"].details["newest_passed_at"] is None
    _evidence(db, parts, "restore_drill", "failed")  # a failed drill proves nothing
    run(parts, "backups.restore_drill_missing")
    assert states(db, "backups.restore_drill_missing") == {"restore_drill": "open"}
    _evidence(db, parts, "backup")
    _evidence(db, parts, "restore_drill")
    run(parts, "backups.missing")
    run(parts, "backups.restore_drill_missing")
    assert states(db, "backups.missing") == {"backup": "resolved"}
    assert states(db, "backups.restore_drill_missing") == {"restore_drill": "resolved"}
    # Too old: 27 hours later the backup is missing again; the drill (7 days) is not.
    later = utcnow() + timedelta(hours=27)
    run(parts, "backups.missing", now=later)
    run(parts, "backups.restore_drill_missing", now=later)
    assert findings(db, "backups.missing")["backup"].recurrences == 1
    assert states(db, "backups.restore_drill_missing") == {"restore_drill": "resolved"}


def test_the_newest_backup_verify_or_drill_failing_is_a_finding_of_its_kind(
    db: Database,
) -> None:
    parts = make_parts(db)
    _evidence(db, parts, "backup")
    _evidence(db, parts, "backup_verify", "failed")
    record_evidence(db, parts.settings, Actor.system("test"), Run(
        "restore_drill", "restore", "failed", {"point": "p1", "problems": ["smoke x failed"]}
    ))  # fmt: skip
    run(parts, "backups.last_run_failed")
    assert states(db, "backups.last_run_failed") == {
        "backup_verify": "open", "restore_drill": "open",
    }  # fmt: skip
    drill = findings(db, "backups.last_run_failed")["restore_drill"].details
    assert (drill["point"], drill["problems"]) == ("p1", ["smoke x failed"])
    # A later run that passes resolves its kind only; failing again reopens it.
    _evidence(db, parts, "restore_drill")
    run(parts, "backups.last_run_failed")
    assert states(db, "backups.last_run_failed") == {
        "backup_verify": "open", "restore_drill": "resolved",
    }  # fmt: skip
    _evidence(db, parts, "restore_drill", "failed")
    run(parts, "backups.last_run_failed")
    assert findings(db, "backups.last_run_failed")["restore_drill"].recurrences == 1
