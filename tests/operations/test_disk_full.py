"""A full disk, for real: a 1 MiB tmpfs as the backup folder, then as the restore's
target. A backup that runs out of room fails by name, leaves nothing that looks whole
(nor a partial folder taking the last bytes) and is recorded; a restore that runs out of
room changes nothing."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from darvaza.cli import app as cli
from darvaza.content.items import create_item
from darvaza.content.storage import LocalStorage
from darvaza.db import Database
from darvaza.operations.backups import create_backup
from darvaza.operations.errors import BackupError
from darvaza.operations.models import Evidence
from darvaza.operations.service import plan_restore, restore_backup
from tests.support.backups import backup_settings, files_in, fresh_target, seed_backup_data
from tests.support.world import SYSTEM

runner = CliRunner()


def _big_item(db: Database, storage_dir: str) -> None:
    """3 MiB that do not compress: more than the small disk holds."""
    storage = LocalStorage(storage_dir)
    stored = storage.write([os.urandom(3 << 20)], max_bytes=4 << 20)
    with db.read() as session:
        tenant_id = session.execute(text("SELECT id FROM tenants")).scalars().first()
    create_item(
        db, storage, SYSTEM, tenant_id=uuid.UUID(str(tenant_id)), title="Big", description="",
        unlocked_by="any_plan", plan_codes=[], stored=stored, filename="big.bin",
        content_type="application/octet-stream",
    )  # fmt: skip


def test_a_backup_onto_a_full_disk_fails_by_name_and_leaves_nothing(
    db: Database, database_url: str, tmp_path: Path, small_disk: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    settings = backup_settings(database_url, tmp_path).model_copy(
        update={"backup_dir": str(small_disk)}
    )
    for name in ("database_url", "storage_dir", "backup_dir", "audit_checkpoint_dir"):
        monkeypatch.setenv(f"DARVAZA_{name.upper()}", str(getattr(settings, name)))
    seed_backup_data(db, settings, files=1)
    _big_item(db, settings.storage_dir)

    made = runner.invoke(cli, ["backup", "create"])

    assert made.exit_code == 1
    assert "Writing the restore point failed: No space left on device" in made.output
    assert list(small_disk.iterdir()) == []  # the partial folder went, and its bytes
    with db.read() as session:
        recorded = session.execute(select(Evidence.kind, Evidence.result, Evidence.details)).one()
    assert recorded[:2] == ("backup", "failed")
    assert "No space left on device" in recorded.details["error"]


def test_a_restore_that_runs_out_of_room_changes_nothing(
    db: Database, database_url: str, tmp_path: Path, small_disk: Path
) -> None:
    settings = backup_settings(database_url, tmp_path)
    seed_backup_data(db, settings, files=1)
    _big_item(db, settings.storage_dir)
    point = create_backup(db, settings, folder=Path(settings.backup_dir))
    storage = small_disk / "files"
    storage.mkdir()
    (storage / "kept.txt").write_text("what was there")
    with fresh_target(database_url, tmp_path) as target:
        plan = plan_restore(point, settings, database_url=target, storage=storage)
        with pytest.raises(BackupError, match="No space left on device"):
            restore_backup(plan, settings, SYSTEM, force=True)
        assert files_in(storage) == {"kept.txt": b"what was there"}
        assert sorted(p.name for p in small_disk.iterdir()) == ["files"]  # nothing half-done
        again = plan_restore(point, settings, database_url=target, storage=storage)
        assert again.target_rows == 0  # the database was never touched
