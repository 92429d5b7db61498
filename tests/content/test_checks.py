"""Content's ops checks: stored files that no item refers to (and the job that deletes
them), and items whose file is gone; each resolves when fixed and reopens."""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta
from functools import partial
from pathlib import Path

from darvaza.checks import Check
from darvaza.clock import utcnow
from darvaza.content import checks as content_checks
from darvaza.content.items import create_item
from darvaza.content.models import ContentItem
from darvaza.content.orphans import delete_orphans
from darvaza.content.storage import Storage, StoredFile
from darvaza.db import Database
from darvaza.ops.findings import run_check
from darvaza.parts import Parts
from darvaza.tenants.service import create_tenant
from tests.support.checks import expect_cycle, findings, run, states
from tests.support.jobs import parts as make_parts
from tests.support.world import SYSTEM, person


def _write(parts: Parts, data: bytes = b"%PDF-1.7 report", *, age_hours: float = 0) -> str:
    storage = parts.get(Storage)
    stored = storage.write([data], max_bytes=10_000)
    if age_hours:
        path = Path(parts.settings.storage_dir) / stored.key
        then = time.time() - age_hours * 3600
        os.utime(path, (then, then))
    return stored.key


def _item(parts: Parts, db: Database, key: str, size: int) -> str:
    owner = person(db)
    slug = f"t{uuid.uuid4().hex[:8]}"
    tenant = create_tenant(db, SYSTEM, slug=slug, name="T", owner_email=owner.email)
    item = create_item(
        db, parts.get(Storage), SYSTEM, tenant_id=tenant.id, title="Report", description="",
        unlocked_by="any_plan", plan_codes=[], stored=StoredFile(key, size, "0" * 64),
        filename="r.pdf", content_type="application/pdf",
    )  # fmt: skip
    return str(item.id)


def test_old_files_without_an_item_are_orphans_and_the_cleanup_deletes_them(
    db: Database, tmp_path: Path
) -> None:
    parts = make_parts(db, storage_dir=str(tmp_path / "files"), ops_orphan_grace_hours=24)
    orphan = _write(parts, age_hours=48)
    _write(parts, age_hours=1)  # young: an upload may still be committing its row
    kept = _write(parts, age_hours=48)
    _item(parts, db, kept, len(b"%PDF-1.7 report"))
    run(parts, "content.orphan_files")
    finding = findings(db, "content.orphan_files")["orphan-files"]
    assert (finding.details["files"], finding.details["keys"]) == (1, [orphan])

    def clean() -> None:
        cutoff = utcnow() - timedelta(hours=24)
        assert delete_orphans(db, parts.get(Storage), written_before=cutoff) == 1

    expect_cycle(
        parts, "content.orphan_files", "orphan-files",
        fix=clean, again=lambda: _write(parts, age_hours=30),
    )  # fmt: skip
    assert (Path(parts.settings.storage_dir) / kept).exists()
    assert not (Path(parts.settings.storage_dir) / orphan).exists()


def test_items_whose_file_is_gone_are_found(db: Database, tmp_path: Path) -> None:
    parts = make_parts(db, storage_dir=str(tmp_path / "files"))
    data = b"%PDF-1.7 report"
    key = _write(parts, data)
    item_id = _item(parts, db, key, len(data))
    path = Path(parts.settings.storage_dir) / key
    path.unlink()
    run(parts, "content.missing_files")
    finding = findings(db, "content.missing_files")[item_id]
    assert finding.details["problem"] == "the file is gone"
    assert finding.tenant_id is not None

    def truncate() -> None:
        path.write_bytes(data[:3])

    expect_cycle(
        parts, "content.missing_files", item_id,
        fix=lambda: path.write_bytes(data), again=truncate,
    )  # fmt: skip
    assert "3 bytes stored" in findings(db, "content.missing_files")[item_id].details["problem"]


def test_the_scan_resolves_only_the_items_it_looked_at(db: Database, tmp_path: Path) -> None:
    """With two items per run, a finding outside this run's slice stays as it is."""
    parts = make_parts(db, storage_dir=str(tmp_path / "files"))
    small = Check(
        "content.missing_files", "high", "t", timedelta(minutes=10),
        partial(content_checks.missing_files, per_run=2),
    )  # fmt: skip
    data = b"%PDF"
    ids = sorted(_item(parts, db, _write(parts, data), len(data)) for _ in range(3))
    for item_id in ids:
        (Path(parts.settings.storage_dir) / _key_of(db, item_id)).unlink()
    run_check(parts, small)  # items 1, 2
    assert set(states(db, "content.missing_files")) == set(ids[:2])
    run_check(parts, small)  # item 3, then back to the start
    assert set(states(db, "content.missing_files")) == set(ids)
    for item_id in ids:
        (Path(parts.settings.storage_dir) / _key_of(db, item_id)).write_bytes(data)
    run_check(parts, small)  # items 1, 2 again: 3 was not looked at
    assert states(db, "content.missing_files") == {
        ids[0]: "resolved", ids[1]: "resolved", ids[2]: "open",
    }  # fmt: skip


def _key_of(db: Database, item_id: str) -> str:
    with db.read() as session:
        item = session.get(ContentItem, uuid.UUID(item_id))
        assert item is not None
        return item.storage_key
