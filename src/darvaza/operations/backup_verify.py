"""Checking a restore point: every part against its manifest and, `deep`, the database
restored into a scratch target (a copy of the SQLite file, or a new PostgreSQL database
dropped after) and checked: its migration head, every table's row count, its audit chain,
and every item's file in the archive with its SHA-256, and no file without an item."""

from __future__ import annotations

import hashlib
import secrets
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from darvaza.audit import service as audit
from darvaza.config import Settings
from darvaza.content import service as content
from darvaza.db import Database
from darvaza.operations.backups import (
    CHUNK,
    FILES_PART,
    Progress,
    RestorePoint,
    engine_of,
    open_part,
    read_snapshot,
    run_tool,
    sha256_of,
)
from darvaza.operations.errors import BackupError, BackupKeyMissing
from darvaza.operations.manifest import DATABASE_PART
from darvaza.revisions import migration_status

# A scratch PostgreSQL database's name: never one a deployment would choose.
SCRATCH_PREFIX = "darvaza_scratch_"


def scratch_name(live: URL) -> str:
    """A new scratch database's name, saying whose copy it is (within PostgreSQL's 63)."""
    return f"{SCRATCH_PREFIX}{(live.database or '')[:30]}_{secrets.token_hex(6)}"


@dataclass
class Verification:
    point: str
    deep: bool
    problems: list[str] = field(default_factory=list)
    # Why a check could not be made (`inconclusive` when nothing else failed).
    unchecked: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def result(self) -> str:
        if self.problems:
            return "failed"
        return "inconclusive" if self.unchecked else "passed"


def check_parts(point: RestorePoint, report: Verification, progress: Progress) -> None:
    """Every stored part's size and SHA-256 against the manifest (no key needed: sealed
    parts are checked as they are stored)."""
    for part in point.manifest.get("parts", []):
        path = point.path / part["name"]
        if not path.is_file():
            report.problems.append(f"{part['name']}: missing")
            continue
        if path.stat().st_size != part["size"]:
            report.problems.append(
                f"{part['name']}: {path.stat().st_size} bytes, the manifest says {part['size']}"
            )
            continue
        with progress.meter(f"checking {part['name']}", part["size"]) as meter:
            sha256 = sha256_of(path, meter)
        if sha256 != part["sha256"]:
            report.problems.append(f"{part['name']}: its SHA-256 differs from the manifest's")
        else:
            report.checked.append(f"{part['name']}: size and SHA-256")


@contextmanager
def scratch_database(
    point: RestorePoint, settings: Settings, workdir: Path, progress: Progress
) -> Iterator[Database]:
    """The restore point's database restored where nothing else can see it: a copy of the
    SQLite file, or a new PostgreSQL database on the configured server, dropped after."""
    if point.engine == "sqlite":
        copy = workdir / "scratch.sqlite3"
        with open_part(point, DATABASE_PART["sqlite"], settings, workdir, progress) as part:
            shutil.copyfile(part, copy)
        scratch = Database(f"sqlite:///{copy}")
        try:
            yield scratch
        finally:
            scratch.dispose()
        return
    live = make_url(settings.database_url)
    if engine_of(live) != "postgresql":
        raise _Unchecked(
            "a PostgreSQL restore point needs a PostgreSQL server to restore into: run it "
            "with DARVAZA_DATABASE_URL naming one"
        )
    name = scratch_name(live)
    assert name != live.database  # noqa: S101 (a random name with our prefix)
    admin = Database(live.set(database="postgres"))
    try:
        with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        target = live.set(database=name)
        with open_part(point, DATABASE_PART["postgresql"], settings, workdir, progress) as part:
            run_tool(
                "pg_restore",
                ["--no-owner", "--no-privileges", "--exit-on-error", "--clean", "--if-exists",
                 f"--dbname={name}", str(part)],
                target, "database part",
            )  # fmt: skip
        scratch = Database(target)
        try:
            yield scratch
        finally:
            scratch.dispose()
    finally:
        with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class _Unchecked(Exception):
    """A deep check that cannot be made here (the verdict is `inconclusive`)."""


def check_database(
    point: RestorePoint, settings: Settings, scratch: Database, report: Verification
) -> list[content.FileRecord]:
    manifest = point.manifest
    head = migration_status(scratch).current_label
    if head != manifest["migration_head"]:
        report.problems.append(
            f"database: restored at migration {head}, "
            f"the manifest says {manifest['migration_head']}"
        )
    with scratch.engine.connect() as connection:
        seen = read_snapshot(connection)
    for name in sorted(set(manifest["tables"]) | set(seen.tables)):
        want, got = manifest["tables"].get(name), seen.tables.get(name)
        if want != got:
            report.problems.append(
                f"database: table {name} has {got} rows, the manifest says {want}"
            )
    report.checked.append(f"database: migration head and {len(seen.tables)} tables' row counts")
    chain = audit.verify_with_settings(scratch, settings, restored_copy=True)
    if chain.broken:
        report.problems.append(f"database: the audit chain does not verify: {chain.broken}")
    else:
        report.checked.append(f"database: the audit chain ({chain.sealed} seals) verifies")
    return seen.files


def _check_files(
    point: RestorePoint, items: list[content.FileRecord], archive_path: Path,
    report: Verification,
) -> None:  # fmt: skip
    wanted = {record.key: record.sha256 for record in items}
    listed = {entry["key"]: entry["sha256"] for entry in point.manifest["files"]}
    if wanted != listed:
        report.problems.append("files: the restored items' files differ from the manifest's list")
    found: dict[str, str] = {}
    try:
        with tarfile.open(archive_path) as archive:
            for member in archive:
                stream = archive.extractfile(member) if member.isfile() else None
                if stream is None:
                    report.problems.append(f"files: {member.name} is not a plain file")
                    continue
                digest = hashlib.sha256()
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                found[member.name] = digest.hexdigest()
    except (tarfile.TarError, OSError) as exc:
        report.problems.append(f"files: the archive cannot be read ({exc})")
        return
    for key, sha256 in sorted(wanted.items()):
        if key not in found:
            report.problems.append(f"files: {key} (an item's file) is not in the archive")
        elif found[key] != sha256:
            report.problems.append(f"files: {key} differs from its item's SHA-256")
    for key in sorted(set(found) - set(wanted)):
        report.problems.append(f"files: {key} is in the archive but no item refers to it")
    report.checked.append(f"files: {len(found)} files against their items")


def verify_backup(
    point: RestorePoint, settings: Settings, *, deep: bool = False,
    progress: Progress | None = None,
) -> Verification:  # fmt: skip
    """Every part against the manifest; `deep`, the database restored into a scratch
    target and checked (migration head, row counts, audit chain) and every item's file.
    A sealed part no identity given opens leaves the deep checks `inconclusive`."""
    progress = progress or Progress()
    report = Verification(point.id, deep)
    check_parts(point, report, progress)
    if not deep or report.problems:
        return report
    with tempfile.TemporaryDirectory(prefix="darvaza-verify-") as work:
        try:
            with scratch_database(point, settings, Path(work), progress) as scratch:
                items = check_database(point, settings, scratch, report)
            with open_part(point, FILES_PART, settings, Path(work), progress) as archive:
                _check_files(point, items, archive, report)
        except (_Unchecked, BackupKeyMissing) as exc:
            report.unchecked.append(str(exc))
        except BackupError as exc:
            report.problems.append(str(exc))
    return report
