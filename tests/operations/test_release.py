"""Releases and rollbacks on both engines: `darvaza migrate` in production stands a
contract or irreversible migration only on a fresh restore point (and names it); a
rollback downgrades through expand migrations and otherwise names the restore point and
the command; the dry-run rehearses up, down and up again on a served scratch copy."""

from __future__ import annotations

import re
import shlex
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from darvaza.cli import app as cli
from darvaza.clock import utcnow
from darvaza.config import Settings
from darvaza.db import Database
from darvaza.migrate import upgrade_to_head
from darvaza.operations.backups import Progress
from darvaza.operations.drill import THIS_BUILD, Steps, scratch_copy
from darvaza.operations.models import Evidence
from darvaza.operations.service import (
    BackupError,
    create_backup,
    guard_upgrade,
    plan_rollback,
    rehearse_release,
    roll_back,
)
from darvaza.revisions import downgrade_to, head_revisions, migration_status, migrations
from tests.support.backups import (
    backup_settings,
    earlier_build,
    scratch_databases_of,
    seed_backup_data,
)
from tests.support.live_server import free_port

runner = CliRunner()
HEAD = max(head_revisions())


def _env(settings: Settings, **more: str) -> dict[str, str]:
    names = ("database_url", "storage_dir", "backup_dir", "audit_checkpoint_dir")
    return {**{f"DARVAZA_{n.upper()}": str(getattr(settings, n)) for n in names}, **more}


def _evidence(db: Database, kind: str) -> list[Evidence]:
    with db.read() as session:
        return list(session.scalars(select(Evidence).where(Evidence.kind == kind)))


def test_in_production_an_irreversible_migration_needs_a_fresh_restore_point(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    local = backup_settings(database_url, tmp_path)
    production = local.model_copy(update={"profile": "production"})
    downgrade_to(db, "0011")  # behind 0012, which cannot be undone

    with pytest.raises(BackupError, match=r"0012 \(irreversible\).*darvaza backup create"):
        guard_upgrade(db, production)
    # Outside production it is said, not refused.
    assert "No downgrade undoes 0012 (irreversible)" in guard_upgrade(db, local).describe()[0]

    point = create_backup(db, local, folder=Path(local.backup_dir))
    guard = guard_upgrade(db, production)
    assert guard.relied_on is not None
    assert guard.relied_on.id == point.id
    assert [m.revision for m in guard.one_way] == ["0012"]
    assert f"Relying on restore point {point.id}" in guard.describe()[-1]
    later = utcnow() + timedelta(minutes=production.migrate_backup_max_age_minutes + 1)
    with pytest.raises(BackupError, match="60 minutes"):
        guard_upgrade(db, production, now=later)

    migrated = runner.invoke(cli, ["migrate"], env=_env(local))
    assert migrated.exit_code == 0, migrated.output
    assert "No downgrade undoes 0012 (irreversible)" in migrated.output
    assert migration_status(db).current == head_revisions()
    # At head nothing is pending: nothing to stand behind.
    assert guard_upgrade(db, production).one_way == []


def test_a_first_install_in_production_needs_no_restore_point(
    empty_database_url: str, tmp_path: Path
) -> None:
    production = backup_settings(empty_database_url, tmp_path).model_copy(
        update={"profile": "production"}
    )
    fresh = Database(empty_database_url)
    try:
        guard = guard_upgrade(fresh, production)  # nothing there to lose: not refused
        assert guard.relied_on is None
        assert [m.revision for m in guard.pending][-1] == HEAD
        assert {"0008", "0012"} <= {m.revision for m in guard.one_way}  # still said
    finally:
        fresh.dispose()


def test_a_rollback_downgrades_through_expand_migrations_and_is_recorded(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = backup_settings(database_url, tmp_path)
    seed_backup_data(db, settings, files=1)
    plan = plan_rollback(db, settings, "0013")
    assert plan.reversible
    assert [m.revision for m in plan.undone] == [
        "0020",
        "0019",
        "0018",
        "0017",
        "0016",
        "0015",
        "0014",
    ]
    # Back to 0014, which keeps the evidence table (0014 made it) for the record.

    asked = runner.invoke(cli, ["release", "rollback", "--to", "0014"], env=_env(settings),
                          input="n\n")  # fmt: skip
    assert asked.exit_code == 1
    assert migration_status(db).current == head_revisions()  # said no: nothing changed

    done = runner.invoke(cli, ["release", "rollback", "--to", "0014", "--yes"],
                         env=_env(settings))  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "0020 (expand)" in done.output
    assert "0019 (expand)" in done.output
    assert "0017 (expand)" in done.output
    assert "0016 (expand)" in done.output
    assert "0015 (expand)" in done.output
    assert migration_status(db).current == {"0014"}
    assert "Not proven yet" in done.output
    (evidence,) = _evidence(db, "rollback")
    # Down, but no smoke check proved the earlier build works on it.
    assert (evidence.result, evidence.details["from"], evidence.details["to"]) == (
        "inconclusive", HEAD, "0014",
    )  # fmt: skip
    assert evidence.details["smoke"] is None
    upgrade_to_head(db)

    alone = plan_rollback(db, settings, HEAD)  # the earlier build alone: nothing to undo
    assert (alone.reversible, alone.undone) == (True, [])
    assert "no migration to undo" in alone.describe()[0]
    with pytest.raises(BackupError, match="Cannot go back to 9999"):
        plan_rollback(db, settings, "9999")


def test_a_rollback_with_no_instance_ready_to_smoke_check_fails_and_says_so(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = backup_settings(database_url, tmp_path)
    nobody = f"http://127.0.0.1:{free_port()}"
    args = ["release", "rollback", "--to", "0014", "--yes", "--admin-token", "t",
            "--base-url", nobody, "--ready-timeout", "1"]  # fmt: skip

    failed = runner.invoke(cli, args, env=_env(settings))

    assert failed.exit_code == 1
    assert f"{nobody} was not ready within 1 s" in failed.output
    assert "Start the build that expects 0014, then run darvaza smoke all" in failed.output
    assert migration_status(db).current == {"0014"}  # the downgrade stands; said so
    (evidence,) = _evidence(db, "rollback")
    assert (evidence.result, evidence.details["smoke_url"]) == ("failed", nobody)
    assert "was not ready" in evidence.details["problems"][0]


def test_a_rollback_across_an_irreversible_migration_names_the_restore_point_to_use(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = backup_settings(database_url, tmp_path)
    folder = Path(settings.backup_dir)
    downgrade_to(db, "0011")
    before_release = create_backup(db, settings, folder=folder, label="before-release")
    upgrade_to_head(db)
    create_backup(db, settings, folder=folder)  # newer, but at the head: no way back

    plan = plan_rollback(db, settings, "0011")
    assert not plan.reversible
    assert [m.revision for m in plan.blocking] == ["0012"]
    assert plan.restore_point is not None
    assert plan.restore_point.id == before_release.id
    with pytest.raises(BackupError, match="needs a restore point"):
        roll_back(db, plan)

    refused = runner.invoke(cli, ["release", "rollback", "--to", "0011", "--yes"],
                            env=_env(settings))  # fmt: skip
    assert refused.exit_code == 1
    assert f"darvaza backup restore {before_release.id}" in refused.output
    assert migration_status(db).current == head_revisions()
    (evidence,) = _evidence(db, "rollback")
    assert (evidence.result, evidence.details["restore_point"]) == ("failed", before_release.id)


# The whole rehearsal, with the earlier build serving the downgraded copy, runs in
# tests/e2e/test_go_live.py (the go-live runbook's `darvaza release dry-run`), which checks
# its steps; here, what it refuses before it copies anything.
def test_a_dry_run_across_an_irreversible_migration_is_refused_before_any_copy(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = backup_settings(database_url, tmp_path)
    refused = rehearse_release(db, settings, down_to="0011", smoke_wait_seconds=15)
    assert refused.result == "failed"
    assert "crosses 0012 (irreversible)" in refused.problems[0]
    assert [step["step"] for step in refused.steps] == ["backup"]
    assert migration_status(db).current == head_revisions()
    assert scratch_databases_of(db) == []


@pytest.mark.timeout(200)
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_earlier_build_that_is_not_one_or_does_not_run_is_named(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = backup_settings(database_url, tmp_path)
    point = create_backup(db, settings, folder=Path(settings.backup_dir))
    before_head = next(m.down_revision for m in migrations() if m.revision == HEAD)
    steps = Steps(Progress())
    with scratch_copy(settings, point, steps) as copy:
        assert steps.problems == []
        scratch = Database(copy.url)
        try:
            downgrade_to(scratch, before_head)
        finally:
            scratch.dispose()

        broken = [sys.executable, "-c", "raise SystemExit('no such build here')"]
        (problem,) = copy.smoke_on_build(steps, broken, 5)
        assert re.fullmatch(
            r"the earlier build: darvaza users create --email \S+ --role platform_admin "
            r"failed on the scratch copy: no such build here",
            problem,
        )
        missing = copy.smoke_on_build(steps, [str(tmp_path / "nowhere" / "darvaza")], 5)
        assert "Cannot run" in missing[0]

        # This build at a revision behind its own refuses at once: a migration is pending.
        (newer,) = copy.smoke_on_build(steps, THIS_BUILD, 5)
        assert "migration pending: database at " + before_head in newer
        # One whose server migrates the copy as it starts (this build's, in a local
        # profile) is not the build that expects that revision either.
        mixed = tmp_path / "mixed-build"
        this, earlier = shlex.join(THIS_BUILD), shlex.join(earlier_build(tmp_path / "earlier"))
        mixed.write_text(f'#!/bin/sh\ncase "$1" in serve) exec {this} "$@";; '
                         f'*) exec {earlier} "$@";; esac\n')  # fmt: skip
        mixed.chmod(0o755)
        (moved,) = copy.smoke_on_build(steps, [str(mixed)], 5)
        assert moved == (
            f"The earlier build moved the copy from {before_head} to {HEAD}: "
            f"it is not a build that expects {before_head}."
        )
