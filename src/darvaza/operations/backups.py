"""Restore points: everything Darvaza needs to come back, in one folder with one manifest.

A restore point is a folder named by its id, holding
- `database.sqlite3` (SQLite's online backup API: a consistent copy while others write)
  or `database.pgdump` (`pg_dump --format=custom` of Darvaza's schema, taken in a snapshot
  exported from the transaction that also counts the rows and lists the items),
- `files.tar`, every stored file an item refers to, named by its storage key,
- `config.json`, the settings in force without any secret, and the names of the secrets
  a restore will need,
- `manifest.json`, written last: what it is (format, time, build, schema, engine,
  instance), the row count of every table, every part's size and SHA-256, and every
  content file with the SHA-256 its item records.

Each part is sealed once written (`sealing`: zstd, then age when recipients are set), so
`files.tar` is stored as `files.tar.zst` or `files.tar.zst.age`; `open_part` gives it
back plain.

It is written under `.partial-<id>` and renamed when complete, so a folder with a
manifest and without that prefix is whole; anything that fails on the way removes the
partial folder. `backup_verify` checks one against its manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from pydantic import SecretStr
from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from darvaza import __version__
from darvaza.audit import service as audit
from darvaza.build import Instance
from darvaza.clock import utcnow
from darvaza.config import Settings
from darvaza.config.environment import mask_url_password
from darvaza.content import service as content
from darvaza.db import Database
from darvaza.operations.errors import BackupError
from darvaza.operations.evidence import Run
from darvaza.operations.manifest import DATABASE_PART, FORMAT_VERSION, MANIFEST, read_manifest
from darvaza.operations.sealing import (
    Meter,
    Reading,
    Sealing,
    plain_name_of,
    seal_part,
    sealing_writer,
    unsealed,
)

PARTIAL = ".partial-"
FILES_PART = "files.tar"
CONFIG_PART = "config.json"
CHUNK = 1 << 20
ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")


class Progress:
    """How long work tells how it goes: lines by default (a log keeps them); the command
    line's terminal version draws a bar for each step that moves bytes."""

    def __init__(self, say: Callable[[str], None] = lambda _line: None) -> None:
        self.say = say

    def __call__(self, line: str) -> None:
        self.say(line)

    @contextmanager
    def meter(self, what: str, total: int) -> Iterator[Meter]:
        """A step of `total` bytes; the meter is told each chunk that went through."""
        self.say(f"{what} ({total} bytes)")
        yield lambda _count: None


@dataclass(frozen=True)
class RestorePoint:
    id: str
    path: Path
    manifest: dict[str, Any]

    @property
    def created_at(self) -> datetime:
        return datetime.fromisoformat(self.manifest["created_at"])

    @property
    def newest_change_at(self) -> datetime | None:
        """The newest change it holds: what a restore would lose came after it."""
        newest = self.manifest.get("newest_change_at")
        return datetime.fromisoformat(newest) if isinstance(newest, str) else None

    @property
    def engine(self) -> str:
        return str(self.manifest["engine"])

    @property
    def label(self) -> str | None:
        return self.manifest.get("label")

    @property
    def size(self) -> int:
        return sum(int(part["size"]) for part in self.manifest["parts"])

    def part(self, plain_name: str) -> dict[str, Any]:
        """The manifest's entry of a part, by its plain name (`files.tar`, ...)."""
        for entry in self.manifest["parts"]:
            if plain_name_of(entry) == plain_name:
                return dict(entry)
        raise BackupError(f"{self.path}: the manifest lists no {plain_name} part.")

    def stored(self, plain_name: str) -> Path:
        """The file a part is stored in (sealed: `files.tar.zst.age`, ...)."""
        return self.path / str(self.part(plain_name)["name"])


@contextmanager
def open_part(
    point: RestorePoint, plain_name: str, settings: Settings, workdir: Path,
    progress: Progress | None = None,
) -> Iterator[Path]:  # fmt: skip
    """A part as it was written, unsealed into `workdir` when it was sealed (with the
    identity the settings hold); a BackupKeyMissing when no identity opens it."""
    entry = point.part(plain_name)
    stored = point.path / entry["name"]
    identity = settings.backup_age_identity
    keys = identity.get_secret_value() if identity else ""
    with (
        (progress or Progress()).meter(f"opening {entry['name']}", int(entry["size"])) as meter,
        unsealed(stored, entry, workdir, keys, meter) as plain,
    ):
        yield plain


def backup_run(point: RestorePoint, *, started_at: datetime) -> Run:
    """The `backup` evidence of a restore point just written: `inconclusive` when an item's
    file was missing or differed from its item."""
    problems = point.manifest["file_problems"]
    details = {
        "point": point.id, "path": str(point.path), "label": point.label, "bytes": point.size,
        "seconds": point.manifest["seconds"], "engine": point.engine,
        "files": len(point.manifest["files"]), "file_problems": problems[:20],
    }  # fmt: skip
    result = "inconclusive" if problems else "passed"
    return Run("backup", "restore_point", result, details, started_at=started_at)


def failed_backup_run(error: BackupError, *, started_at: datetime) -> Run:
    return Run("backup", "restore_point", "failed", {"error": str(error)}, started_at=started_at)


# --- Reading and writing parts -------------------------------------------------------------


def sha256_of(path: Path, meter: Meter = lambda _count: None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            meter(len(chunk))
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def engine_of(url: URL) -> str:
    return "sqlite" if url.get_backend_name() == "sqlite" else "postgresql"


def _libpq_env(url: URL) -> dict[str, str]:
    """The connection for pg_dump and pg_restore, in the environment: the password never
    appears on a command line, where any user of the machine could read it."""
    env = dict(os.environ)
    for name, value in (("PGHOST", url.host), ("PGPORT", url.port), ("PGUSER", url.username),
                        ("PGPASSWORD", url.password), ("PGDATABASE", url.database)):  # fmt: skip
        if value is not None:
            env[name] = str(value)
    return env


def run_tool(tool: str, args: list[str], url: URL, what: str) -> None:
    program = shutil.which(tool)
    if program is None:
        raise BackupError(
            f"{what}: {tool} is not installed (Debian: apt-get install postgresql-client)."
        )
    # The program is the one on PATH and the arguments are ours.
    done = subprocess.run(  # noqa: S603
        [program, *args], env=_libpq_env(url), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        said = " ".join(done.stderr.strip().splitlines()[-3:])[:500]
        raise BackupError(f"{what}: {tool} failed (exit {done.returncode}): {said}")


# --- What the database held at the snapshot ----------------------------------------------


@dataclass
class Snapshot:
    head: str | None
    tables: dict[str, int]
    files: list[content.FileRecord]
    newest_change_at: datetime | None = None


def read_snapshot(connection: Connection) -> Snapshot:
    """Row counts, migration head and the items' files, as this connection sees them."""
    names = sorted(inspect(connection).get_table_names())
    preparer = connection.dialect.identifier_preparer
    tables = {}
    for name in names:
        # The names come from the database's own catalog.
        count = text(f"SELECT count(*) FROM {preparer.quote(name)}")  # noqa: S608
        tables[name] = int(connection.execute(count).scalar_one())
    head = None
    if "alembic_version" in names:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        head = ", ".join(sorted(versions)) or None
    session = Session(bind=connection)
    files = content.file_records(session) if "content_items" in names else []
    newest = audit.newest_event_at(session) if "audit_events" in names else None
    return Snapshot(head, tables, files, newest)


def _copy_sqlite(db: Database, target: Path) -> Snapshot:
    source = db.engine.url.database
    if not source or source == ":memory:":
        raise BackupError("database: an in-memory SQLite database has nothing to back up.")
    with closing(sqlite3.connect(source)) as live, closing(sqlite3.connect(target)) as copy:
        # One step (all pages at once): the copy is the database at one moment, while the
        # server and the worker go on writing (WAL readers do not block writers).
        live.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
    scratch = Database(f"sqlite:///{target}")
    try:
        with scratch.engine.connect() as connection:
            return read_snapshot(connection)
    finally:
        scratch.dispose()


def _dump_postgresql(db: Database, target: Path) -> Snapshot:
    with db.engine.connect() as connection:
        snapshot = connection.execution_options(isolation_level="REPEATABLE READ")
        with snapshot.begin():
            snapshot.execute(text("SET TRANSACTION READ ONLY"))
            exported = snapshot.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            schema = snapshot.execute(text("SELECT current_schema()")).scalar_one()
            seen = read_snapshot(snapshot)
            # pg_dump reads the very snapshot the counts came from, while this
            # transaction keeps it alive.
            run_tool(
                "pg_dump",
                ["--format=custom", "--no-owner", "--no-privileges", f"--schema={schema}",
                 f"--snapshot={exported}", f"--file={target}"],
                db.engine.url, "database part",
            )  # fmt: skip
    return seen


def _write_files(
    storage: content.LocalStorage, files: list[content.FileRecord], target: IO[bytes],
    meter: Meter,
) -> list[str]:  # fmt: skip
    """The items' files into one archive streamed to `target`; what did not match its
    item, named."""
    problems = []
    # Megabyte blocks both ways: tarfile's own 16 KiB ones cost a call (and a hash
    # update) per 16 KiB, most of the archive's time.
    with tarfile.open(fileobj=target, mode="w|", bufsize=CHUNK) as archive:
        archive.copybufsize = CHUNK  # type: ignore[attr-defined]  # real, not in typeshed
        for record in files:
            path = storage.path_of(record.key)
            try:
                stream = path.open("rb")
            except FileNotFoundError:
                problems.append(f"{record.key}: the item's file is missing from storage")
                continue
            with stream:
                info = archive.gettarinfo(fileobj=stream, arcname=record.key)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                # One read: into the archive, and checked against its item.
                reading = Reading(stream, meter)
                archive.addfile(info, reading)
            if reading.digest.hexdigest() != record.sha256:
                problems.append(f"{record.key}: the stored file differs from its item's SHA-256")
    return problems


def _has_password(url: str) -> bool:
    try:
        return "://" in url and bool(make_url(url).password)
    except ArgumentError:
        return False


def _config(settings: Settings) -> dict[str, Any]:
    """The settings in force, no secret among them; the secrets a restore needs, named."""
    shown: dict[str, Any] = {}
    needed = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            if value.get_secret_value():
                needed.append(f"DARVAZA_{name.upper()}")
            continue
        if name.endswith("_url") and isinstance(value, str):
            if _has_password(value):
                needed.append(f"DARVAZA_{name.upper()} (its password)")
            value = mask_url_password(value)
        shown[name] = (
            value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        )
    return {"settings": shown, "secrets_needed": needed}


# --- Create ------------------------------------------------------------------------------


def _write_parts(
    db: Database, settings: Settings, partial: Path, progress: Progress
) -> tuple[Snapshot, dict[str, Any]]:
    """The three parts into the partial folder; what the snapshot saw, and the manifest's
    entries about the parts and the files."""
    engine = engine_of(db.engine.url)
    progress(f"database: copying ({engine})")
    database_part = DATABASE_PART[engine]
    copy = _copy_sqlite if engine == "sqlite" else _dump_postgresql
    seen = copy(db, partial / database_part)
    storage = content.LocalStorage(settings.storage_dir)
    sealing = Sealing.of(settings)
    total = sum(record.size for record in seen.files)
    with (
        progress.meter(f"files: archiving {len(seen.files)} stored files "
                       f"({', '.join(sealing.encoding) or 'as is'})", total) as meter,
        sealing_writer(partial, FILES_PART, sealing) as (archive, files_entry),
    ):  # fmt: skip
        file_problems = _write_files(storage, seen.files, archive, meter)
    referenced = {record.key for record in seen.files}
    unreferenced = sorted(key for key, _ in storage.stored_files() if key not in referenced)
    (partial / CONFIG_PART).write_text(json.dumps(_config(settings), indent=2, sort_keys=True))
    parts = []
    for name in (database_part, CONFIG_PART):
        size = (partial / name).stat().st_size
        with progress.meter(f"sealing {name} ({', '.join(sealing.encoding) or 'as is'})",
                            size) as meter:  # fmt: skip
            parts.append(seal_part(partial, name, sealing, meter))
    parts.insert(1, files_entry)
    return seen, {
        "engine": engine,
        "sealing": sealing.describe(),
        "parts": parts,
        "files": [{"key": r.key, "size": r.size, "sha256": r.sha256} for r in seen.files],
        "file_problems": file_problems,
        "unreferenced_files": unreferenced,
    }


def create_backup(
    db: Database, settings: Settings, *, folder: Path, label: str | None = None,
    progress: Progress | None = None,
) -> RestorePoint:  # fmt: skip
    """Write one restore point into `folder` (see the module's note)."""
    progress = progress or Progress()
    if label is not None and not re.match(r"^[A-Za-z0-9._-]{1,64}$", label):
        raise BackupError("A label is 1-64 of A-Z, a-z, 0-9, '.', '_' and '-'.")
    started = time.monotonic()
    now = utcnow()
    point_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    partial = folder / f"{PARTIAL}{point_id}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial.mkdir()
    except OSError as exc:
        raise BackupError(f"The backup folder {folder} cannot be written: {exc.strerror}.") from exc
    try:
        seen, written = _write_parts(db, settings, partial, progress)
        instance = Instance.of(settings)
        newest = seen.newest_change_at
        manifest = {
            "format_version": FORMAT_VERSION, "id": point_id, "label": label,
            "created_at": now.isoformat(), "seconds": round(time.monotonic() - started, 3),
            "darvaza_version": __version__, "revision": instance.revision,
            "migration_head": seen.head, "newest_change_at": newest and newest.isoformat(),
            "profile": instance.profile, "instance": instance.name, "tables": seen.tables,
            **written,
        }  # fmt: skip
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        for path in partial.iterdir():
            _fsync(path)
        final = folder / point_id
        partial.rename(final)
        _fsync(folder)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise BackupError(f"Writing the restore point failed: {exc.strerror or exc}.") from exc
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    progress(f"done: {final}")
    return RestorePoint(point_id, final, manifest)


# --- Find and list -----------------------------------------------------------------------


def list_backups(folder: Path) -> list[RestorePoint]:
    """Whole restore points in the folder, newest first (partial ones are not listed)."""
    points: list[RestorePoint] = []
    if not folder.is_dir():
        return points
    for path in folder.iterdir():
        if path.is_dir() and ID.match(path.name) and (path / MANIFEST).is_file():
            with suppress(BackupError):
                points.append(RestorePoint(path.name, path, read_manifest(path)))
    # The id has whole seconds; the manifest's time orders two taken in the same second.
    return sorted(points, key=lambda point: (point.created_at, point.id), reverse=True)


def find_backup(folder: Path, id_or_path: str) -> RestorePoint:
    """A restore point by its id (in the folder) or its path."""
    path = folder / id_or_path if ID.match(id_or_path) else Path(id_or_path)
    if not path.is_dir():
        raise BackupError(f"No restore point {id_or_path} (looked in {path}).")
    return RestorePoint(path.name, path, read_manifest(path))
