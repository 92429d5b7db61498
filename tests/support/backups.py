"""A platform to back up: settings in the test's folder, a tenant with items and their
files, the audit log sealed."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from darvaza.audit.checkpoints import AuditKeys, CheckpointFolder, seal_all
from darvaza.config import Settings
from darvaza.content.items import create_item
from darvaza.content.storage import LocalStorage
from darvaza.db import Database
from darvaza.revisions import head_revisions
from darvaza.tenants.service import create_tenant
from tests.support.settings import make_settings
from tests.support.world import SYSTEM, person

REPOSITORY = Path(__file__).resolve().parents[2]


def backup_settings(database_url: str, tmp_path: Path, **more: object) -> Settings:
    return make_settings(
        database_url=database_url, storage_dir=str(tmp_path / "storage"),
        backup_dir=str(tmp_path / "backups"),
        audit_checkpoint_dir=str(tmp_path / "checkpoints"), **more,
    )  # fmt: skip


def seed_backup_data(db: Database, settings: Settings, files: int = 3) -> dict[str, bytes]:
    """A tenant with items and their files, the audit log sealed; the files by key."""
    owner = person(db)
    tenant = create_tenant(db, SYSTEM, slug=f"t{uuid.uuid4().hex[:8]}", name="T",
                           owner_email=owner.user.email)  # fmt: skip
    storage = LocalStorage(settings.storage_dir)
    stored: dict[str, bytes] = {}
    for n in range(files):
        data = f"file {n} ".encode() * (100 + n)
        made = storage.write([data], max_bytes=1 << 20)
        create_item(
            db, storage, SYSTEM, tenant_id=tenant.id, title=f"Item {n}", description="",
            unlocked_by="any_plan", plan_codes=[], stored=made, filename=f"f{n}.txt",
            content_type="text/plain",
        )  # fmt: skip
        stored[made.key] = data
    keys = AuditKeys.from_secret(settings.effective_audit_key)
    seal_all(db, keys, CheckpointFolder(Path(settings.audit_checkpoint_dir)))
    return stored


def scratch_databases_of(db: Database) -> list[str]:
    """The scratch databases made from this test's database still on the server (none on
    SQLite): another test's, made at the same time, are not counted."""
    if db.engine.url.get_backend_name() == "sqlite":
        return []
    with db.engine.connect() as connection:
        return list(connection.execute(
            text("SELECT datname FROM pg_database WHERE datname LIKE :name"),
            {"name": f"darvaza\\_scratch\\_{(db.engine.url.database or '')[:30]}\\_%"},
        ).scalars())  # fmt: skip


@contextmanager
def fresh_target(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database URL nothing uses yet: a new SQLite path, or a new PostgreSQL database
    (dropped after)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored' / 'darvaza.sqlite3'}"
        return
    name = f"{url.database}_restored"
    yield url.set(database=name).render_as_string(hide_password=False)
    admin = Database(url.set(database="postgres"))
    with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def files_in(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def earlier_build(folder: Path) -> list[str]:
    """A real earlier build: this repository's code as it was before its newest migration
    arrived (from git), run by this Python with that code first on its path, as an
    operator runs the build still in service from its own folder."""
    head = max(head_revisions())
    (migration,) = (REPOSITORY / "src/darvaza/migrations/versions").glob(f"{head}_*.py")
    added = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "--", str(migration)],
        cwd=REPOSITORY, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert added, f"{migration.name} is not committed: no earlier build to take"
    archive = subprocess.run(
        ["git", "archive", f"{added[-1]}^", "src"], cwd=REPOSITORY, capture_output=True,
        check=True,
    ).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return ["env", f"PYTHONPATH={folder / 'src'}", sys.executable, "-m", "darvaza.cli"]
