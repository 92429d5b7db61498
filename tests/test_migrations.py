"""Migrations: `darvaza migrate`, `migrate --check`, and `serve` refusing a pending one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from typer.testing import CliRunner

from darvaza.audit.checkpoints import CheckpointFolder, seal_all
from darvaza.audit.models import AuditEvent
from darvaza.cli import app as cli
from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.jobs.models import Job
from darvaza.migrate import model_differences, upgrade_to_head
from darvaza.operations.evidence import Run, record_evidence
from darvaza.operations.models import Evidence
from darvaza.revisions import (
    MIGRATION_KINDS,
    alembic_config,
    head_revisions,
    migration_status,
    migrations,
    schema_change,
)
from tests.audit.support import KEYS, append, verify
from tests.support.backups import backup_settings, seed_backup_data
from tests.support.world import SYSTEM

runner = CliRunner()


def _check(url: str) -> tuple[int, str]:
    result = runner.invoke(cli, ["migrate", "--check"], env={"DARVAZA_DATABASE_URL": url})
    return result.exit_code, result.output


def test_check_fails_before_migrating_and_passes_after(empty_database_url: str) -> None:
    code, output = _check(empty_database_url)
    assert code == 1
    assert "migration pending" in output
    assert "empty database" in output

    result = runner.invoke(cli, ["migrate"], env={"DARVAZA_DATABASE_URL": empty_database_url})
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output

    code, output = _check(empty_database_url)
    assert code == 0, output
    assert "models match the migrations" in output


def test_migrate_twice_is_harmless(empty_database_url: str) -> None:
    for _ in range(2):
        result = runner.invoke(cli, ["migrate"], env={"DARVAZA_DATABASE_URL": empty_database_url})
        assert result.exit_code == 0, result.output


def test_check_fails_when_models_and_database_differ(db: Database) -> None:
    assert model_differences(db) == []
    with db.engine.begin() as connection:
        connection.execute(text("ALTER TABLE audit_pending ADD COLUMN stray INTEGER"))
    assert model_differences(db) != []
    code, output = _check(db.url.render_as_string(hide_password=False))
    assert code == 1
    assert "models differ from the migrations" in output
    assert "stray" in output


def test_a_database_behind_the_code_is_pending(db: Database) -> None:
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    status = migration_status(db)
    assert status.pending
    assert "database at older" in status.describe()


def _to(db: Database, action: str, revision: str) -> None:
    with schema_change(db) as config:
        getattr(command, action)(config, revision)


def test_every_migration_declares_what_undoing_it_means() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1
    shipped = migrations()
    assert [m.revision for m in shipped][-1] in head_revisions()
    assert {m.kind for m in shipped} <= set(MIGRATION_KINDS)
    assert [m.revision for m in shipped if m.kind != "expand"] == ["0008", "0012"]
    assert all(m.title for m in shipped)


def test_every_migration_goes_up_down_and_up_again(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    try:
        for migration in migrations():
            _to(db, "upgrade", migration.revision)
            _to(db, "downgrade", migration.down_revision or "base")
            assert migration_status(db).current == (
                frozenset({migration.down_revision}) if migration.down_revision else frozenset()
            ), migration.revision
            _to(db, "upgrade", migration.revision)
            assert migration_status(db).current == {migration.revision}
        assert model_differences(db) == []
        _to(db, "downgrade", "base")
        upgrade_to_head(db)
        assert model_differences(db) == []
    finally:
        db.dispose()


def test_the_expand_migrations_since_the_last_irreversible_one_round_trip_with_data(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    # What `darvaza release rollback` does to a live database: down through expand
    # migrations and up again, every row of the tables that stay kept.
    seed_backup_data(db, backup_settings(database_url, tmp_path))
    boundary = [m.revision for m in migrations() if m.kind != "expand"][-1]
    before = _row_counts(db)
    _to(db, "downgrade", boundary)
    assert migration_status(db).current == {boundary}
    kept = _row_counts(db)
    assert kept == {table: before[table] for table in kept}
    upgrade_to_head(db)
    after = _row_counts(db)
    assert {table: after[table] for table in kept} == kept
    assert model_differences(db) == []


def test_restore_evidence_going_down_keeps_its_kind_allowed_never_deletes_it(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = backup_settings(database_url, tmp_path)

    def record(kind: str) -> None:
        record_evidence(db, settings, SYSTEM, Run(kind, "restore_point", "passed", {},
                                                  started_at=utcnow()))  # fmt: skip

    record("backup")
    _to(db, "downgrade", "0015")  # no restore evidence: the constraint narrows again
    with pytest.raises(IntegrityError):
        record("restore")
    upgrade_to_head(db)
    record("restore")
    _to(db, "downgrade", "0015")  # it stays, and so does its kind
    with db.read() as session:
        kinds = sorted(session.scalars(select(Evidence.kind)))
    assert kinds == ["backup", "restore"]
    record("restore")
    upgrade_to_head(db)
    assert model_differences(db) == []
    # Still append-only (on SQLite the triggers came back with the rebuilt table).
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as connection:
        connection.execute(text("DELETE FROM evidence"))


def _row_counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as connection:
        tables = [t for t in inspect(connection).get_table_names() if t != "alembic_version"]
        return {
            table: connection.execute(text(f'SELECT COUNT(*) FROM "{table}"')).scalar_one()
            for table in tables
        }


def test_serve_in_staging_refuses_a_pending_migration(empty_database_url: str) -> None:
    """Outside `local`, serve never migrates by itself: it stops and says what to run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARVAZA_")}
    env.update(
        {
            "DARVAZA_PROFILE": "staging",
            "DARVAZA_PUBLIC_URL": "https://members.example.com",
            "DARVAZA_SECRET_KEY": "s" * 40,
            "DARVAZA_AUDIT_KEY": "a" * 40,
            "DARVAZA_DATABASE_URL": empty_database_url,
        }
    )
    result = subprocess.run(
        [sys.executable, "-m", "darvaza.cli", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "Refusing to start: migration pending" in result.stderr
    assert "darvaza migrate" in result.stderr
    db = Database(empty_database_url)
    try:
        assert migration_status(db).current == frozenset()  # it did not migrate
    finally:
        db.dispose()


def test_upgrade_keeps_events_written_under_the_old_chain(
    empty_database_url: str, tmp_path: Path
) -> None:
    """Revision 0012 retires the chain-head row: events written before it keep their
    content, get their old sequence number as their id, and are sealed afresh; new events
    continue after them."""
    db = Database(empty_database_url)
    try:
        with db.engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "0011")
        with db.engine.begin() as connection:
            for seq in (1, 2, 3):
                connection.execute(
                    text(
                        "INSERT INTO audit_events (seq, occurred_at, actor_type, action, data, "
                        "prev_hash, hash) VALUES (:seq, :at, 'system', 'old.event', :data, "
                        ":prev, :hash)"
                    ),
                    {"seq": seq, "at": utcnow(), "data": json.dumps({"n": seq}),
                     "prev": f"{seq - 1:064x}", "hash": f"{seq:064x}"},
                )  # fmt: skip
                connection.execute(text("UPDATE audit_chain_head SET last_seq = :seq"),
                                   {"seq": seq})  # fmt: skip
            connection.execute(
                text("INSERT INTO jobs (kind, queue, payload, priority, state, attempts, "
                     "max_attempts, run_at, created_at, updated_at) VALUES ('audit.seal', "
                     "'default', '{}', 0, 'queued', 0, 3, :at, :at, :at)"),
                {"at": utcnow()},
            )  # fmt: skip
        upgrade_to_head(db)
        assert model_differences(db) == []
        (new,) = append(db, 1)
        assert new.id == 4
        assert seal_all(db, KEYS, CheckpointFolder(tmp_path)) == 4
        with db.read() as session:
            kept = session.execute(
                select(AuditEvent.id, AuditEvent.data).order_by(AuditEvent.id)
            ).all()
            retired_job = session.scalars(select(Job.state).where(Job.kind == "audit.seal")).one()
        assert [tuple(row) for row in kept[:3]] == [(1, {"n": 1}), (2, {"n": 2}), (3, {"n": 3})]
        assert retired_job == "cancelled"
        assert verify(db, tmp_path).ok
    finally:
        db.dispose()
