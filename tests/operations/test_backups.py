"""Restore points on both engines, with the real `pg_dump` and `pg_restore`: made while
others write, listed, verified part by part and deep (restored into a scratch target);
every corruption is caught and named; a failed backup leaves nothing that looks whole."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import tarfile
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from darvaza.audit.models import AuditEvent
from darvaza.cli import app as cli
from darvaza.config import Settings
from darvaza.content.storage import LocalStorage
from darvaza.db import Database
from darvaza.operations.backups import (
    FILES_PART,
    Progress,
    create_backup,
    find_backup,
    list_backups,
    open_part,
)
from darvaza.operations.errors import BackupError
from darvaza.operations.evidence import Run, record_evidence
from darvaza.operations.manifest import DATABASE_PART, MANIFEST
from darvaza.operations.models import Evidence
from darvaza.operations.retention import prune_backups
from darvaza.operations.service import (
    plan_restore,
    restore_backup,
    verify_backup,
)
from darvaza.tenants.models import Tenant
from darvaza.tenants.service import create_tenant
from tests.support.backups import (
    backup_settings,
    files_in,
    fresh_target,
    scratch_databases_of,
    seed_backup_data,
)
from tests.support.settings import make_settings
from tests.support.world import SYSTEM, Api, person

runner = CliRunner()


def _in_environment(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The test's settings where the command reads them, a port nothing listens on."""
    settings = backup_settings(database_url, tmp_path, port=_free_port())
    for name in ("database_url", "storage_dir", "backup_dir", "audit_checkpoint_dir", "port"):
        monkeypatch.setenv(f"DARVAZA_{name.upper()}", str(getattr(settings, name)))
    return settings


def _counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as connection:
        names = [row[0] for row in connection.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            if db.engine.url.get_backend_name() == "sqlite"
            else "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ))]  # fmt: skip
        return {
            name: connection.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()
            for name in names
        }


def test_a_restore_point_holds_the_database_the_files_and_the_settings_and_verifies(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = backup_settings(database_url, tmp_path, smtp_password="not-in-the-backup-1")
    stored = seed_backup_data(db, settings)
    orphan = LocalStorage(settings.storage_dir).write([b"nobody's"], max_bytes=100)
    lines: list[str] = []

    point = create_backup(
        db,
        settings,
        folder=Path(settings.backup_dir),
        label="nightly",
        progress=Progress(lines.append),
    )

    manifest = json.loads((point.path / MANIFEST).read_text())
    engine = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    assert (manifest["engine"], manifest["label"], manifest["format_version"]) == (
        engine, "nightly", 2,
    )  # fmt: skip
    assert manifest["tables"] == {k: v for k, v in _counts(db).items() if k in manifest["tables"]}
    assert manifest["tables"]["content_items"] == 3
    assert manifest["tables"]["audit_seals"] > 0
    assert manifest["migration_head"]
    with db.read() as session:
        newest = session.scalar(select(func.max(AuditEvent.occurred_at)))
    assert manifest["newest_change_at"] == newest.isoformat()  # type: ignore[union-attr]
    assert {(p["plain_name"], p["name"]) for p in manifest["parts"]} == {
        (name, f"{name}.zst") for name in (DATABASE_PART[engine], FILES_PART, "config.json")
    }  # compressed by default
    assert sorted(f["key"] for f in manifest["files"]) == sorted(stored)
    assert manifest["unreferenced_files"] == [orphan.key]
    assert manifest["file_problems"] == []
    with open_part(point, FILES_PART, settings, tmp_path) as part, tarfile.open(part) as archive:
        archived = {m.name: archive.extractfile(m).read() for m in archive}  # type: ignore[union-attr]
    assert archived == stored  # byte for byte, and the orphan is not copied
    with open_part(point, "config.json", settings, tmp_path) as part:
        config = part.read_text()
    assert "not-in-the-backup-1" not in config
    assert "DARVAZA_SMTP_PASSWORD" in json.loads(config)["secrets_needed"]
    assert any("database" in line for line in lines)
    assert not list(Path(settings.backup_dir).glob(".partial-*"))

    assert [p.id for p in list_backups(Path(settings.backup_dir))] == [point.id]
    assert find_backup(Path(settings.backup_dir), point.id).manifest == manifest
    shallow = verify_backup(point, settings)
    assert (shallow.result, shallow.problems) == ("passed", [])
    deep = verify_backup(point, settings, deep=True)
    assert (deep.result, deep.problems, deep.unchecked) == ("passed", [], [])
    assert any("audit chain" in line for line in deep.checked)
    assert scratch_databases_of(db) == []  # the scratch database is gone again


def test_a_restore_point_taken_while_others_write_is_one_moment(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    """Tenants are added throughout: the row counts are those of the database part (the
    deep check restores it and counts again), whatever moment it was."""
    settings = backup_settings(database_url, tmp_path)
    seed_backup_data(db, settings, files=1)
    stop = threading.Event()
    owner = person(db)

    def write() -> None:
        while not stop.is_set():
            create_tenant(db, SYSTEM, slug=f"w{uuid.uuid4().hex[:8]}", name="W",
                          owner_email=owner.user.email)  # fmt: skip

    writer = threading.Thread(target=write)
    writer.start()
    try:
        points = [create_backup(db, settings, folder=Path(settings.backup_dir)) for _ in range(3)]
    finally:
        stop.set()
        writer.join()
    with db.read() as session:
        total = session.scalar(select(func.count()).select_from(Tenant))
    tenants_seen = [p.manifest["tables"]["tenants"] for p in points]
    assert tenants_seen == sorted(tenants_seen)
    assert tenants_seen[-1] <= (total or 0)
    for point in points:
        report = verify_backup(point, settings, deep=True)
        assert report.problems == [], report.problems


def _flip_byte(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at % len(data)] ^= 0xFF  # compressed parts are small
    path.write_bytes(bytes(data))


def test_every_corruption_is_caught_and_names_its_part(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = backup_settings(database_url, tmp_path)
    seed_backup_data(db, settings)
    folder = Path(settings.backup_dir)

    def fresh() -> Path:
        return create_backup(db, settings, folder=folder).path

    def stored(path: Path, part: str) -> Path:  # the part's file (sealed: `.zst`)
        return find_backup(folder, path.name).stored(part)

    def cut(path: Path) -> None:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    engine = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    database = DATABASE_PART[engine]
    cases = {
        "flipped database byte": (lambda p: _flip_byte(stored(p, database), 2000), database),
        "flipped file byte": (lambda p: _flip_byte(stored(p, FILES_PART), 700), FILES_PART),
        "truncated archive": (lambda p: cut(stored(p, FILES_PART)), FILES_PART),
        "missing config": (lambda p: stored(p, "config.json").unlink(), "config.json"),
    }
    for name, (damage, named) in cases.items():
        path = fresh()
        damage(path)
        report = verify_backup(find_backup(folder, path.name), settings, deep=True)
        assert report.result == "failed", name
        assert any(named in problem for problem in report.problems), (name, report.problems)

    newer = fresh()
    manifest = json.loads((newer / MANIFEST).read_text())
    (newer / MANIFEST).write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(BackupError, match="newer Darvaza"):
        find_backup(folder, newer.name)
    (newer / MANIFEST).write_text("{not json")
    with pytest.raises(BackupError, match="manifest cannot be read"):
        find_backup(folder, newer.name)
    # A manifest cut short or edited by hand: refused by what is wrong, never met later
    # as a missing key; and not listed as a restore point.
    damaged = {**manifest, "parts": [{"name": database, "size": "big", "sha256": "x"}],
               "created_at": "yesterday"}  # fmt: skip
    del damaged["tables"]
    (newer / MANIFEST).write_text(json.dumps(damaged))
    with pytest.raises(BackupError, match=r"manifest is damaged \(created_at, parts, tables\)"):
        find_backup(folder, newer.name)
    assert newer.name not in [point.id for point in list_backups(folder)]


def test_a_file_that_changed_under_its_item_is_named_and_the_deep_check_fails(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = backup_settings(database_url, tmp_path)
    stored = seed_backup_data(db, settings)
    changed = sorted(stored)[0]
    LocalStorage(settings.storage_dir).path_of(changed).write_bytes(b"rewritten behind its back")
    point = create_backup(db, settings, folder=Path(settings.backup_dir))
    assert point.manifest["file_problems"] == [
        f"{changed}: the stored file differs from its item's SHA-256"
    ]
    report = verify_backup(point, settings, deep=True)
    assert f"files: {changed} differs from its item's SHA-256" in report.problems


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_failing_pg_dump_leaves_no_restore_point(
    db: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = backup_settings(database_url, tmp_path)
    folder = Path(settings.backup_dir)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    with pytest.raises(BackupError, match="pg_dump is not installed"):
        create_backup(db, settings, folder=folder)
    assert list(folder.iterdir()) == []
    # One that writes half a dump and fails, as a full disk or a lost connection would.
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "pg_dump").write_text(
        '#!/bin/sh\nfor a; do case $a in --file=*) echo half > "${a#--file=}";; esac; done\n'
        "echo 'pg_dump: error: connection lost' >&2; exit 1\n"
    )
    (tools / "pg_dump").chmod(0o755)
    monkeypatch.setenv("PATH", str(tools))
    with pytest.raises(BackupError, match=r"database part: pg_dump failed .*connection lost"):
        create_backup(db, settings, folder=folder)
    assert list(folder.iterdir()) == []


def test_the_commands_make_list_and_verify_and_record_evidence(
    db: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _in_environment(database_url, tmp_path, monkeypatch)
    seed_backup_data(db, settings, files=1)

    made = runner.invoke(cli, ["backup", "create", "--label", "before-upgrade"])
    assert made.exit_code == 0, made.output
    listed = runner.invoke(cli, ["backup", "list", "--json"])
    point = json.loads(listed.output.splitlines()[0])
    assert point["label"] == "before-upgrade"
    checked = runner.invoke(cli, ["backup", "verify", point["id"], "--deep"])
    assert checked.exit_code == 0, checked.output
    assert f"{point['id']}: passed" in checked.output

    _flip_byte(find_backup(Path(settings.backup_dir), point["id"]).stored(FILES_PART), 600)
    damaged = runner.invoke(cli, ["backup", "verify", point["path"]])
    assert damaged.exit_code == 1
    assert "PROBLEM: files.tar" in damaged.output
    unknown = runner.invoke(cli, ["backup", "verify", "20990101T000000Z-abcdef"])
    assert unknown.exit_code == 1
    bad_label = runner.invoke(cli, ["backup", "create", "--label", "no spaces"])
    assert bad_label.exit_code == 1
    assert "A label is" in bad_label.output

    with db.read() as session:
        recorded = session.execute(
            select(Evidence.kind, Evidence.name, Evidence.result).order_by(Evidence.recorded_at)
        ).all()
    assert [tuple(r) for r in recorded] == [
        ("backup", "restore_point", "passed"),
        ("backup_verify", "deep", "passed"),
        ("backup_verify", "parts", "failed"),
        ("backup_verify", "parts", "failed"),
        ("backup", "restore_point", "failed"),
    ]


# --- Restoring --------------------------------------------------------------------------


def test_a_restore_gives_the_same_rows_and_files_and_checks_itself(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = backup_settings(database_url, tmp_path)
    stored = seed_backup_data(db, settings)
    point = create_backup(db, settings, folder=Path(settings.backup_dir))
    before = _counts(db)
    with fresh_target(database_url, tmp_path) as target_url:
        storage = tmp_path / "restored-storage"
        plan = plan_restore(point, settings, database_url=target_url, storage=storage)
        assert (plan.empty_target, plan.live) == (True, False)
        assert any("replaced by 3 files" in line for line in plan.describe())

        report, safety = restore_backup(plan, settings, SYSTEM, force=False)

        assert (report.result, report.problems, safety) == ("passed", [], None)
        assert files_in(storage) == stored
        target = Database(target_url)
        try:
            after = _counts(target)
            with target.read() as session:
                restored = session.scalars(
                    select(AuditEvent.data).where(AuditEvent.action == "backup.restored")
                ).all()
        finally:
            target.dispose()
        # The same, but for the restore's own audit event (waiting for the sealer).
        assert after["audit_events"] == before["audit_events"] + 1
        assert after["audit_pending"] == before["audit_pending"] + 1
        unaudited = {"audit_events", "audit_pending"}
        assert {k: v for k, v in after.items() if k not in unaudited} == {
            k: v for k, v in before.items() if k not in unaudited
        }
        assert [d["point"] for d in restored] == [point.id]

        # Again, now that the target holds data: refused without --force; with it, a
        # safety restore point of the target comes first.
        again = plan_restore(point, settings, database_url=target_url, storage=storage)
        assert not again.empty_target
        with pytest.raises(BackupError, match="not empty"):
            restore_backup(again, settings, SYSTEM, force=False)
        report, safety = restore_backup(again, settings, SYSTEM, force=True)
        assert report.result == "passed"
        assert safety is not None
        assert safety.label == "before-restore"
        assert safety.manifest["tables"]["audit_events"] == before["audit_events"] + 1


def test_a_restore_is_refused_before_anything_changes(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = backup_settings(database_url, tmp_path, host="127.0.0.1", port=_free_port())
    seed_backup_data(db, settings, files=1)
    folder = Path(settings.backup_dir)
    point = create_backup(db, settings, folder=folder)
    storage = Path(settings.storage_dir)
    other = (
        "postgresql+psycopg://postgres@127.0.0.1:5432/x"
        if database_url.startswith("sqlite")
        else f"sqlite:///{tmp_path / 'x.sqlite3'}"
    )
    with pytest.raises(BackupError, match="Restore it into a"):
        plan_restore(point, settings, database_url=other, storage=storage)

    manifest = json.loads((point.path / MANIFEST).read_text())
    (point.path / MANIFEST).write_text(json.dumps({**manifest, "migration_head": "9999_future"}))
    with pytest.raises(BackupError, match="newer Darvaza"):
        plan_restore(find_backup(folder, point.id), settings, database_url=database_url,
                     storage=storage)  # fmt: skip
    (point.path / MANIFEST).write_text(json.dumps(manifest))

    # Over the live database: --force, and the server must be stopped.
    live = plan_restore(point, settings, database_url=database_url, storage=storage)
    assert live.live
    before = _counts(db)
    with pytest.raises(BackupError, match="not empty"):
        restore_backup(live, settings, SYSTEM, force=False)
    with (
        socket.create_server((settings.host, settings.port)),
        pytest.raises(BackupError, match="stop the server"),
    ):
        restore_backup(live, settings, SYSTEM, force=True)
    assert _counts(db) == before
    assert [p.id for p in list_backups(folder)] == [point.id]  # no safety point either

    # A damaged restore point: refused on its checksums, before anything changes.
    _flip_byte(point.stored(FILES_PART), 100)
    with pytest.raises(BackupError, match=r"restore point is damaged: files\.tar"):
        restore_backup(live, settings.model_copy(update={"port": _free_port()}), SYSTEM,
                       force=True)  # fmt: skip
    assert _counts(db) == before
    assert [p.id for p in list_backups(folder)] == [point.id]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_restore_that_fails_half_way_leaves_the_target_as_it_was(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    """pg_restore runs in one transaction: a dump that breaks part-way through changes
    nothing in the target (its safety restore point aside). The dump here was cut short
    before its checksum was taken, as a faulty pg_dump would leave it."""
    settings = backup_settings(database_url, tmp_path, backup_compression="none")
    seed_backup_data(db, settings, files=1)
    point = create_backup(db, settings, folder=Path(settings.backup_dir))
    dump = point.path / DATABASE_PART["postgresql"]
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size * 2 // 3])
    manifest = json.loads((point.path / MANIFEST).read_text())
    for part in manifest["parts"]:
        if part["name"] == dump.name:
            part["size"] = part["plain_size"] = dump.stat().st_size
            part["sha256"] = part["plain_sha256"] = hashlib.sha256(dump.read_bytes()).hexdigest()
    (point.path / MANIFEST).write_text(json.dumps(manifest))
    point = find_backup(Path(settings.backup_dir), point.id)
    with fresh_target(database_url, tmp_path) as target_url:
        # The target: the live data, restored from a good point.
        good = create_backup(db, settings, folder=tmp_path / "good")
        restore_backup(
            plan_restore(good, settings, database_url=target_url, storage=tmp_path / "s"),
            settings, SYSTEM, force=False,
        )  # fmt: skip
        target = Database(target_url)
        before = _counts(target)
        plan = plan_restore(point, settings, database_url=target_url, storage=tmp_path / "s")
        files = files_in(tmp_path / "s")
        with pytest.raises(BackupError, match="pg_restore failed"):
            restore_backup(plan, settings, SYSTEM, force=True)
        assert _counts(target) == before
        assert files_in(tmp_path / "s") == files
        assert not list(tmp_path.glob(".s.*"))  # nothing half-unpacked left beside it
        target.dispose()


def test_files_beside_an_empty_database_are_kept_aside_not_deleted(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    """No safety restore point can be taken without a database to start from: the
    folder's old files are kept beside it, and the report says where."""
    settings = backup_settings(database_url, tmp_path)
    stored = seed_backup_data(db, settings, files=1)
    point = create_backup(db, settings, folder=Path(settings.backup_dir))
    storage = tmp_path / "target-files"
    storage.mkdir()
    (storage / "left-behind.txt").write_text("someone's")
    with fresh_target(database_url, tmp_path) as target_url:
        plan = plan_restore(point, settings, database_url=target_url, storage=storage)
        assert (plan.target_rows, plan.target_files) == (0, 1)
        report, safety = restore_backup(plan, settings, SYSTEM, force=True)
    assert (report.result, safety) == ("passed", None)
    assert files_in(storage) == stored
    kept = [line for line in report.checked if "old files were kept at" in line]
    assert len(kept) == 1
    assert files_in(Path(kept[0].rsplit(" at ", 1)[1])) == {"left-behind.txt": b"someone's"}


def test_the_restore_command_shows_the_plan_and_asks(
    db: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _in_environment(database_url, tmp_path, monkeypatch)
    seed_backup_data(db, settings, files=1)
    point = create_backup(db, settings, folder=Path(settings.backup_dir))
    with fresh_target(database_url, tmp_path) as target_url:
        args = ["backup", "restore", point.id, "--database", target_url,
                "--storage", str(tmp_path / "r")]  # fmt: skip
        declined = runner.invoke(cli, args, input="n\n")
        assert declined.exit_code == 1
        assert "replaced by 1 files" in declined.output
        assert "Nothing changed." in declined.output
        assert not (tmp_path / "r").exists()
        done = runner.invoke(cli, [*args, "--yes"])
        assert done.exit_code == 0, done.output
        assert f"Restored {point.id}: passed" in done.output
        refused = runner.invoke(cli, [*args, "--yes"])
        assert refused.exit_code == 1
        assert "--force" in refused.output
    # Each is `restore` evidence on the live instance, the refused one too.
    with db.read() as session:
        restores = session.scalars(
            select(Evidence).where(Evidence.kind == "restore").order_by(Evidence.recorded_at)
        ).all()
    assert [(e.result, e.details["point"], e.details["live"]) for e in restores] == [
        ("passed", point.id, False), ("failed", point.id, False),
    ]  # fmt: skip
    assert "--force" in restores[1].details["error"]
    assert restores[0].details["rpo_seconds"] > 0
    assert "audit chain" in " ".join(restores[0].details["checked"])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_metrics_show_the_last_backup_and_drill_from_their_evidence(api: Api) -> None:
    def scrape() -> str:
        return api.call("GET", "/metrics").text

    never = scrape()  # 0: an alert on the age fires on a platform that never had one
    assert "\ndarvaza_backup_last_success_timestamp_seconds 0.0\n" in never
    assert "\ndarvaza_restore_drill_last_success_timestamp_seconds 0.0\n" in never
    assert "darvaza_backup_last_size_bytes" not in never
    settings = make_settings()
    record_evidence(api.db, settings, SYSTEM, Run(
        "backup", "restore_point", "passed", {"bytes": 12345, "seconds": 1.5},
    ))  # fmt: skip
    record_evidence(api.db, settings, SYSTEM, Run("backup", "restore_point", "failed", {}))
    record_evidence(api.db, settings, SYSTEM, Run(
        "restore_drill", "restore", "failed", {"rto_seconds": None, "rpo_seconds": 42.0},
    ))  # fmt: skip
    text_ = scrape()
    assert "darvaza_backup_last_size_bytes 12345.0" in text_  # the one that passed
    assert "darvaza_backup_last_duration_seconds 1.5" in text_
    assert "darvaza_restore_drill_last_passed 0.0" in text_
    assert "darvaza_restore_drill_last_rpo_seconds 42.0" in text_
    assert "darvaza_restore_drill_last_rto_seconds" not in text_  # it never got green
    assert "\ndarvaza_restore_drill_last_success_timestamp_seconds 0.0\n" in text_
    with api.db.read() as session:
        finished = session.scalars(
            select(Evidence.finished_at).where(Evidence.result == "passed")
        ).one()
    stamp = re.search(r"^darvaza_backup_last_success_timestamp_seconds (\S+)$", text_, re.M)
    assert stamp is not None
    assert float(stamp.group(1)) == pytest.approx(finished.timestamp())


# --- Retention ---------------------------------------------------------------------------


def _restore_point_at(folder: Path, at: datetime) -> str:
    """A restore point's folder as `create` leaves it, taken at `at` (the retention reads
    only the manifest)."""
    point_id = f"{at:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    (folder / point_id).mkdir(parents=True)
    manifest = {"format_version": 1, "id": point_id, "created_at": at.isoformat(),
                "engine": "sqlite", "parts": [], "migration_head": None, "seconds": 0.1,
                "tables": {}, "files": [], "file_problems": [],
                "unreferenced_files": []}  # fmt: skip
    (folder / point_id / MANIFEST).write_text(json.dumps(manifest))
    return point_id


def test_pruning_keeps_the_newest_of_each_day_and_week_and_the_newest(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    monday = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # ISO week 49
    made = {
        f"{day}d{hour}h": _restore_point_at(folder, monday - timedelta(days=day, hours=-hour))
        for day in range(0, 20) for hour in (0, 12)
    }  # fmt: skip
    # A backup that died long ago, and one in flight now.
    (folder / ".partial-20261101T000000Z-dead00").mkdir()
    old = (datetime.now(UTC) - timedelta(hours=7)).timestamp()
    os.utime(folder / ".partial-20261101T000000Z-dead00", (old, old))
    (folder / ".partial-20261130T020000Z-alive0").mkdir()

    dry = prune_backups(folder, daily=3, weekly=2, dry_run=True)
    assert len(list(folder.iterdir())) == 42  # nothing deleted
    pruning = prune_backups(folder, daily=3, weekly=2)

    assert pruning.kept == dry.kept
    assert pruning.kept == {
        made["0d12h"]: ["newest", "daily 2026-11-30", "weekly 2026-W49"],
        made["1d12h"]: ["daily 2026-11-29", "weekly 2026-W48"],  # Sunday ends week 48
        made["2d12h"]: ["daily 2026-11-28"],
    }
    left = sorted(p.name for p in folder.iterdir())
    assert left == sorted([*pruning.kept, ".partial-20261130T020000Z-alive0"])
    assert ".partial-20261101T000000Z-dead00" in pruning.removed
    assert prune_backups(folder, daily=0, weekly=0).kept == {made["0d12h"]: ["newest"]}
    assert [p.name for p in folder.iterdir() if not p.name.startswith(".")] == [made["0d12h"]]


def test_the_prune_command_reads_its_defaults_from_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "backups"
    now = datetime.now(UTC)
    ids = [_restore_point_at(folder, now - timedelta(days=n)) for n in range(4)]
    monkeypatch.setenv("DARVAZA_BACKUP_DIR", str(folder))
    monkeypatch.setenv("DARVAZA_BACKUP_KEEP_DAILY", "2")
    monkeypatch.setenv("DARVAZA_BACKUP_KEEP_WEEKLY", "0")
    shown = runner.invoke(cli, ["backup", "prune", "--dry-run"])
    assert shown.exit_code == 0, shown.output
    assert f"would remove  {ids[3]}" in shown.output
    assert f"keep    {ids[0]}  (newest, daily" in shown.output
    done = runner.invoke(cli, ["backup", "prune", "--keep-daily", "3"])
    assert f"removed  {ids[3]}" in done.output
    assert sorted(p.name for p in folder.iterdir()) == sorted(ids[:3])
