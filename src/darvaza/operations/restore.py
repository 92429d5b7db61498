"""Restoring a restore point: a plan first (what will be replaced, sizes, the point's
age), then the database and the files, each put in place whole or not at all, then the
deep checks on what is now there.

A target that holds anything is refused without `force`; with it, a safety restore point
of the target is taken first (when its database holds rows; files beside an empty
database are kept aside, named in the report). The live database (the one the settings
name) also needs the server stopped: something answering on its address refuses it. A restore
point from another engine, or from a Darvaza newer than this one (a format or a schema
this one does not know), is refused before anything changes.
"""

from __future__ import annotations

import os
import shutil
import socket
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from darvaza.audit.service import append_event
from darvaza.clock import utcnow
from darvaza.config import Settings
from darvaza.config.environment import mask_url_password
from darvaza.db import Database
from darvaza.operations.backup_verify import Verification, check_database, check_parts
from darvaza.operations.backups import (
    FILES_PART,
    Progress,
    RestorePoint,
    create_backup,
    engine_of,
    open_part,
    run_tool,
    sha256_of,
)
from darvaza.operations.errors import BackupError, BackupKeyMissing
from darvaza.operations.evidence import Run
from darvaza.operations.manifest import DATABASE_PART
from darvaza.revisions import known_revisions
from darvaza.security.caller import Actor


@dataclass(frozen=True)
class RestorePlan:
    point: RestorePoint
    database_url: URL
    storage: Path
    target_rows: int  # rows in the target's tables now (0: empty or missing)
    target_files: int  # files in the target's storage folder now
    live: bool  # the target is the database the settings name

    @property
    def empty_target(self) -> bool:
        return self.target_rows == 0 and self.target_files == 0

    def describe(self) -> list[str]:
        point = self.point
        age = utcnow() - point.created_at
        shown = mask_url_password(self.database_url.render_as_string(hide_password=False))
        return [
            f"Restore point {point.id} ({point.label or 'no label'}), taken "
            f"{_age(age)} ago by Darvaza {point.manifest['darvaza_version']}, schema "
            f"{point.manifest['migration_head']}",
            f"  database: {shown}{' (the live one)' if self.live else ''} now holds "
            f"{self.target_rows} rows: replaced by {sum(point.manifest['tables'].values())} "
            f"rows in {len(point.manifest['tables'])} tables",
            f"  files: {self.storage} now holds {self.target_files} files: replaced by "
            f"{len(point.manifest['files'])} files",
            f"  size: {point.size} bytes",
        ]


def restore_run(
    plan: RestorePlan, outcome: Verification | BackupError, safety: RestorePoint | None, *,
    started_at: datetime,
) -> Run:  # fmt: skip
    """The `restore` evidence of a restore (or of one refused or failed on the way): what
    went where, how much newer data it replaced, and the deep checks' verdict."""
    newest = plan.point.newest_change_at
    details: dict[str, Any] = {
        "point": plan.point.id, "live": plan.live, "storage": str(plan.storage),
        "database": mask_url_password(plan.database_url.render_as_string(hide_password=False)),
        "point_created_at": plan.point.created_at.isoformat(),
        "rpo_seconds": round((utcnow() - newest).total_seconds(), 3) if newest else None,
        "safety_point": safety.id if safety else None,
    }  # fmt: skip
    if isinstance(outcome, BackupError):
        details["error"] = str(outcome)
        return Run("restore", "restore_point", "failed", details, started_at=started_at)
    details |= {"problems": outcome.problems[:50], "checked": outcome.checked}
    return Run("restore", "restore_point", outcome.result, details, started_at=started_at)


def _age(age: timedelta) -> str:
    hours = age.total_seconds() / 3600
    return f"{hours:.1f} hours" if hours < 48 else f"{hours / 24:.1f} days"


def _rows_in(url: URL) -> int:
    if engine_of(url) == "sqlite" and not (url.database and Path(url.database).exists()):
        return 0
    target = Database(url)
    try:
        with target.engine.connect() as connection:
            names = inspect(connection).get_table_names()
            quote = connection.dialect.identifier_preparer.quote
            # The names come from the database's own catalog.
            counts = [text(f"SELECT count(*) FROM {quote(name)}") for name in names]  # noqa: S608
            return sum(int(connection.execute(count).scalar_one()) for count in counts)
    except SQLAlchemyError as exc:
        if "does not exist" in str(exc):
            return 0  # a PostgreSQL database not made yet: it is made empty
        said = str(exc).splitlines()[0]
        raise BackupError(f"database: the target cannot be read ({said})") from exc
    finally:
        target.dispose()


def plan_restore(
    point: RestorePoint, settings: Settings, *, database_url: str, storage: Path
) -> RestorePlan:
    """What restoring `point` there would replace; refuses what can never be restored."""
    url = make_url(database_url)
    if engine_of(url) != point.engine:
        raise BackupError(
            f"This restore point is of a {point.engine} database; the target is "
            f"{engine_of(url)}. Restore it into a {point.engine} database."
        )
    head = point.manifest.get("migration_head")
    if head and not set(head.split(", ")) <= known_revisions():
        raise BackupError(
            f"This restore point's schema ({head}) comes from a newer Darvaza "
            f"({point.manifest.get('darvaza_version')}): restore it with that version."
        )
    is_live = _same_database(url, make_url(settings.database_url))
    files = sum(1 for p in storage.rglob("*") if p.is_file()) if storage.is_dir() else 0
    return RestorePlan(point, url, storage, _rows_in(url), files, is_live)


def _same_database(one: URL, other: URL) -> bool:
    if engine_of(one) != engine_of(other):
        return False
    if engine_of(one) == "sqlite":
        return Path(one.database or "").resolve() == Path(other.database or "").resolve()
    return (one.host, one.port or 5432, one.database) == (
        other.host,
        other.port or 5432,
        other.database,
    )


def _server_answers(settings: Settings) -> bool:
    try:
        with socket.create_connection((settings.host, settings.port), timeout=0.5):
            return True
    except OSError:
        return False


def _restore_sqlite(part: Path, target: Path) -> None:
    """The copy beside the target, then swapped in by one rename: a reader sees the old
    database or the new one, never half of either."""
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = target.with_name(f".{target.name}.restoring")
    shutil.copyfile(part, incoming)
    os.fsync(os.open(incoming, os.O_RDONLY))
    for stale in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
        stale.unlink(missing_ok=True)  # the old database's log must not replay into the new
    os.replace(incoming, target)


def _restore_postgresql(part: Path, url: URL) -> None:
    admin = Database(url.set(database="postgres"))
    try:
        with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            exists = c.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}
            ).first()
            if exists is None:
                c.execute(text(f'CREATE DATABASE "{url.database}"'))
    finally:
        admin.dispose()
    # One transaction: a restore that fails half-way leaves the target as it was.
    run_tool(
        "pg_restore",
        ["--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--no-owner",
         "--no-privileges", f"--dbname={url.database}", str(part)],
        url, "database part",
    )  # fmt: skip


def _unpack_files(point: RestorePoint, part: Path, storage: Path) -> Path:
    """The files unpacked beside the folder, before the database is touched: an archive
    that cannot be read stops the restore while nothing has changed."""
    incoming = storage.with_name(f".{storage.name}.restoring-{point.id}")
    shutil.rmtree(incoming, ignore_errors=True)
    try:
        with tarfile.open(part) as archive:
            archive.extractall(incoming, filter="data")  # no links, no paths outside
    except (tarfile.TarError, OSError) as exc:
        shutil.rmtree(incoming, ignore_errors=True)
        raise BackupError(f"files part: cannot be unpacked ({exc})") from exc
    incoming.mkdir(exist_ok=True)
    return incoming


def _swap_in(incoming: Path, storage: Path, *, keep_old: bool) -> Path | None:
    """The unpacked folder in the old one's place; the old one goes once it is, unless
    `keep_old` (no safety restore point holds its files): then where it was kept."""
    outgoing = storage.with_name(f".{storage.name}.replaced-{incoming.name}")
    if storage.exists():
        storage.rename(outgoing)
    incoming.rename(storage)
    if keep_old and outgoing.exists():
        return outgoing
    shutil.rmtree(outgoing, ignore_errors=True)
    return None


def _check_storage(point: RestorePoint, storage: Path, report: Verification) -> None:
    for entry in point.manifest["files"]:
        path = storage / entry["key"]
        if not path.is_file():
            report.problems.append(f"files: {entry['key']} is missing after the restore")
            continue
        if sha256_of(path) != entry["sha256"]:
            report.problems.append(f"files: {entry['key']} differs from its item's SHA-256")
    report.checked.append(f"files: {len(point.manifest['files'])} restored files")


def _refuse_what_cannot_go_on(plan: RestorePlan, settings: Settings, force: bool) -> None:
    if not plan.empty_target and not force:
        raise BackupError(
            "The target is not empty (the plan above says what it holds): pass --force to "
            "replace it; a safety restore point of it is taken first."
        )
    if plan.live and not force:
        raise BackupError("The target is the live database: pass --force, with the server stopped.")
    if plan.live and _server_answers(settings):
        raise BackupError(
            f"Something answers on {settings.host}:{settings.port}: stop the server (and "
            "the worker) before restoring over the live database."
        )
    if plan.point.manifest.get("sealing", {}).get("age_recipients") and not (
        settings.backup_age_identity
    ):
        raise BackupKeyMissing(
            "This restore point is encrypted: give the age identity of one of its recipients "
            "(DARVAZA_BACKUP_AGE_IDENTITY, or --identity-file)."
        )


def _put_in_place(
    plan: RestorePlan, settings: Settings, progress: Progress, *, keep_old_files: bool
) -> Path | None:
    """Files unpacked beside their folder, then the database restored, then the files
    swapped in: a failure before the swap leaves the files as they were."""
    plan.storage.parent.mkdir(parents=True, exist_ok=True)
    # Sealed parts are opened beside the target: its disk is the one the plan sized.
    with tempfile.TemporaryDirectory(prefix=".darvaza-restore-", dir=plan.storage.parent) as work:
        with open_part(plan.point, FILES_PART, settings, Path(work), progress) as files:
            progress("files: unpacking")
            incoming = _unpack_files(plan.point, files, plan.storage)
        try:
            database_part = DATABASE_PART[plan.point.engine]
            with open_part(plan.point, database_part, settings, Path(work), progress) as part:
                progress("database: restoring")
                if plan.point.engine == "sqlite":
                    _restore_sqlite(part, Path(plan.database_url.database or ""))
                else:
                    _restore_postgresql(part, plan.database_url)
        except BaseException:
            shutil.rmtree(incoming, ignore_errors=True)
            raise
    progress("files: swapping in")
    return _swap_in(incoming, plan.storage, keep_old=keep_old_files)


def restore_backup(
    plan: RestorePlan, settings: Settings, actor: Actor, *, force: bool,
    progress: Progress | None = None,
) -> tuple[Verification, RestorePoint | None]:  # fmt: skip
    """Put the restore point in place (see the module's note); the deep checks' report
    on the result, and the safety restore point taken of the target, if one was."""
    progress = progress or Progress()
    _refuse_what_cannot_go_on(plan, settings, force)
    parts = Verification(plan.point.id, deep=False)
    check_parts(plan.point, parts, progress)
    if parts.problems:
        raise BackupError(f"The restore point is damaged: {'; '.join(parts.problems)}.")
    safety = None
    # A safety restore point needs a database to start from; files beside an empty one
    # are kept aside instead of deleted.
    if plan.target_rows:
        progress("taking a safety restore point of the target first")
        target = Database(plan.database_url)
        try:
            folder = Path(settings.backup_dir)
            local = settings.model_copy(update={"storage_dir": str(plan.storage)})
            safety = create_backup(target, local, folder=folder, label="before-restore")
        finally:
            target.dispose()
    kept = _put_in_place(plan, settings, progress, keep_old_files=safety is None)
    progress("checking the result")
    report = Verification(plan.point.id, deep=True)
    if kept is not None:
        report.checked.append(f"files: the folder's old files were kept at {kept}")
    restored = Database(plan.database_url)
    try:
        check_database(plan.point, settings, restored, report)
        _check_storage(plan.point, plan.storage, report)
        with restored.transaction() as session:
            append_event(
                session, action="backup.restored", actor=actor, target_type="restore_point",
                target_id=plan.point.id,
                data={"point": plan.point.id, "result": report.result,
                      "safety_point": safety.id if safety else None},
            )  # fmt: skip
    finally:
        restored.dispose()
    return report, safety
