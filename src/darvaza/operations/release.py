"""Releases and rollbacks, as far as the schema goes, and their rehearsal.

Each migration says what undoing it means (`revisions.MIGRATION_KINDS`). Going up through
a contract or an irreversible migration in `production` needs a fresh restore point to
stand behind it; going back down (`darvaza release rollback --to REVISION`) is a
downgrade only when every migration on the way is an expand one, and otherwise the way
back is a restore point taken at (or before) that revision, which the plan names.
`darvaza release dry-run` rehearses the whole round on a scratch copy of the live data.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from darvaza.clock import utcnow
from darvaza.config import Profile, Settings
from darvaza.db import Database
from darvaza.operations.backups import (
    Progress,
    RestorePoint,
    engine_of,
    list_backups,
    read_snapshot,
)
from darvaza.operations.drill import ScratchCopy, Steps, point_for, scratch_copy
from darvaza.operations.errors import BackupError
from darvaza.operations.evidence import Run
from darvaza.operations.smoke.all import run_all
from darvaza.operations.smoke.client import SmokeFailed, wait_until_ready
from darvaza.operations.smoke.client import record_evidence as record_smoke
from darvaza.revisions import (
    REVERSIBLE,
    Migration,
    between,
    downgrade_to,
    head_revisions,
    migration_status,
)


def _one_revision(db: Database) -> str | None:
    current = migration_status(db).current
    if len(current) > 1:
        raise BackupError(f"The database has several heads ({', '.join(sorted(current))}).")
    return next(iter(current), None)


def _points_of_this_engine(db: Database, settings: Settings) -> list[RestorePoint]:
    engine = engine_of(db.engine.url)
    return [p for p in list_backups(Path(settings.backup_dir)) if p.engine == engine]


# --- Going up --------------------------------------------------------------------------


@dataclass(frozen=True)
class UpgradeGuard:
    pending: list[Migration]
    one_way: list[Migration]  # the pending ones that are not expand
    relied_on: RestorePoint | None  # a fresh restore point, when one is needed and found

    def describe(self) -> list[str]:
        lines = [f"No downgrade undoes {m.revision} ({m.kind}): {m.title}" for m in self.one_way]
        if self.relied_on is not None:
            lines.append(f"Relying on restore point {self.relied_on.id} "
                         f"({self.relied_on.created_at:%Y-%m-%d %H:%M} UTC).")  # fmt: skip
        return lines


def guard_upgrade(db: Database, settings: Settings, *, now: datetime | None = None) -> UpgradeGuard:
    """What `darvaza migrate` would cross; in `production`, a BackupError when it would
    cross a contract or irreversible migration with no restore point of this engine at
    most `migrate_backup_max_age_minutes` old. A database with no revision yet (a first
    install) holds nothing a restore point could save, so it is never refused."""
    now = now or utcnow()
    head = max(migration_status(db).head)
    current = _one_revision(db)
    pending = between(current, head)
    one_way = [m for m in pending if m.kind != REVERSIBLE]
    if not one_way or current is None:
        return UpgradeGuard(pending, one_way, None)
    fresh_after = now - timedelta(minutes=settings.migrate_backup_max_age_minutes)
    fresh = [p for p in _points_of_this_engine(db, settings) if p.created_at >= fresh_after]
    if not fresh and settings.profile == Profile.PRODUCTION:
        names = ", ".join(f"{m.revision} ({m.kind})" for m in one_way)
        raise BackupError(
            f"Migrating crosses {names}, which cannot be undone by a downgrade, and no "
            f"restore point of this database is {settings.migrate_backup_max_age_minutes} "
            "minutes old or newer: take one (darvaza backup create --label before-release), "
            "then migrate."
        )
    return UpgradeGuard(pending, one_way, fresh[0] if fresh else None)


# --- Going back --------------------------------------------------------------------------


@dataclass(frozen=True)
class RollbackPlan:
    current: str
    target: str
    undone: list[Migration]  # newest first, as they are undone
    blocking: list[Migration]  # contract and irreversible ones on the way
    restore_point: RestorePoint | None  # the way back when blocked

    @property
    def reversible(self) -> bool:
        return not self.blocking

    def describe(self) -> list[str]:
        if not self.undone:
            return [f"The database is at {self.target} already: no migration to undo, the "
                    "rollback is the earlier build alone."]  # fmt: skip
        lines = [f"The database is at {self.current}; going back to {self.target} undoes:"]
        lines += [f"  {m.revision} ({m.kind}): {m.title}" for m in self.undone]
        if self.reversible:
            return [
                *lines,
                "Every one is an expand migration: a downgrade takes it back. What "
                "they added goes, with its rows (take a restore point first to keep them).",
            ]
        names = ", ".join(f"{m.revision} ({m.kind})" for m in self.blocking)
        lines.append(f"{names} cannot be undone by a downgrade.")
        if self.restore_point is None:
            lines.append(
                f"No restore point of this database at {self.target} or before is in the "
                "backup folder: there is no way back to it from here."
            )
        else:
            point = self.restore_point
            lines += [
                f"The way back is restore point {point.id} (taken "
                f"{point.created_at:%Y-%m-%d %H:%M} UTC at {point.manifest['migration_head']}; "
                "what changed since is lost):",
                "  stop the server and the worker, then",
                f'  darvaza backup restore {point.id} --database "$DARVAZA_DATABASE_URL" '
                '--storage "$DARVAZA_STORAGE_DIR" --force',
                "  then start the earlier build and run darvaza smoke all.",
            ]
        return lines

    def run(
        self, *, result: str, started_at: datetime, problems: list[str],
        smoke: RollbackSmoke | None = None,
    ) -> Run:  # fmt: skip
        """Its `rollback` evidence; `smoke` is what the smoke checks said afterwards."""
        details = {
            "from": self.current, "to": self.target,
            "undone": [f"{m.revision}:{m.kind}" for m in self.undone],
            "blocking": [m.revision for m in self.blocking],
            "restore_point": self.restore_point.id if self.restore_point else None,
            "smoke_url": smoke.base_url if smoke else None,
            "smoke": smoke.results if smoke else None,
            "problems": [*problems, *(smoke.problems if smoke else [])][:20],
        }  # fmt: skip
        return Run("rollback", "schema", result, details, started_at=started_at)


def plan_rollback(db: Database, settings: Settings, target: str) -> RollbackPlan:
    """What going back to `target` takes (a BackupError when `target` is not behind the
    database's revision in this build)."""
    current = _one_revision(db)
    if current is None:
        raise BackupError("The database has no schema to roll back.")
    if target == current:  # the earlier build alone: nothing to undo, still smoke-checked
        return RollbackPlan(current, target, [], [], None)
    try:
        path = between(target, current)
    except ValueError as exc:
        raise BackupError(f"Cannot go back to {target}: {exc}") from None
    blocking = [m for m in path if m.kind != REVERSIBLE]
    point = None
    if blocking:
        at_or_before = {m.revision for m in between(None, target)}
        point = next(
            (p for p in _points_of_this_engine(db, settings)
             if p.manifest.get("migration_head") in at_or_before),
            None,
        )  # fmt: skip
    return RollbackPlan(current, target, list(reversed(path)), blocking, point)


def roll_back(db: Database, plan: RollbackPlan) -> None:
    """Downgrade to the plan's target; only a plan whose every step is reversible."""
    if not plan.reversible:
        raise BackupError("This rollback needs a restore point, not a downgrade.")
    if _one_revision(db) != plan.current:
        raise BackupError("The database moved since the plan was made: plan again.")
    try:
        downgrade_to(db, plan.target)
    except (SQLAlchemyError, RuntimeError) as exc:  # a migration's own refusal included
        raise BackupError(f"The downgrade failed and was undone: {exc}") from exc


@dataclass
class RollbackSmoke:
    base_url: str
    results: dict[str, str] = field(default_factory=dict)  # check: passed | failed
    problems: list[str] = field(default_factory=list)


def smoke_rolled_back(
    db: Database, plan: RollbackPlan, base_url: str, admin_token: str, *,
    ready_seconds: float = 300, max_wait_seconds: float = 30,
) -> RollbackSmoke:  # fmt: skip
    """After the rollback, every smoke check against the instance at `base_url`, each
    verdict recorded there as `smoke` evidence. It waits for `/ready`, which answers only
    once a build that expects the plan's revision serves it (a newer build sees a pending
    migration), and checks afterwards that nothing moved the schema meanwhile."""
    smoke = RollbackSmoke(base_url)
    try:
        wait_until_ready(base_url, ready_seconds)
    except SmokeFailed as exc:
        smoke.problems.append(f"No smoke check ran: {exc} Start the build that expects "
                              f"{plan.target}, then run darvaza smoke all.")  # fmt: skip
        return smoke
    for report in run_all(base_url, admin_token, max_wait_seconds=max_wait_seconds):
        smoke.results[report.name] = "passed" if report.ok else "failed"
        smoke.problems += [f"smoke {report.name}: {d}" for d in report.deviations[:5]]
        try:
            record_smoke(base_url, admin_token, report)
        except SmokeFailed as exc:
            smoke.problems.append(f"smoke {report.name} not recorded: {exc}")
    if (now_at := _one_revision(db)) != plan.target:
        smoke.problems.append(f"The database is at {now_at}, not {plan.target}: something "
                              "migrated it during the smoke checks.")  # fmt: skip
    return smoke


# --- Rehearsing a release ----------------------------------------------------------------


@dataclass
class Rehearsal:
    point: str = ""
    started_at_revision: str | None = None  # the copy's, as restored
    head: str = ""
    down_to: str | None = None
    earlier_build: str | None = None  # the command that served the downgraded copy
    steps: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def result(self) -> str:
        return "failed" if self.problems or not self.steps else "passed"

    def run(self, *, started_at: datetime) -> Run:
        """Its `release_dry_run` evidence."""
        details = {
            "point": self.point, "from": self.started_at_revision, "head": self.head,
            "down_to": self.down_to, "earlier_build": self.earlier_build,
            "steps": self.steps, "problems": self.problems[:50],
        }  # fmt: skip
        return Run("release_dry_run", "schema", self.result, details, started_at=started_at)


def _rows(url: str) -> dict[str, int]:
    target = Database(url)
    try:
        with target.engine.connect() as connection:
            return read_snapshot(connection).tables
    finally:
        target.dispose()


def _upgrade(copy: ScratchCopy, steps: Steps, head: str, *, again: bool = False) -> None:
    at = time.monotonic()
    copy.darvaza("migrate")
    steps.took(f"upgrade to {head}" + (" again" if again else ""), at)


def _way_down(copy_at: str | None, head: str, down_to: str | None) -> str:
    """The revision the rehearsal goes back to: the one asked for, the copy's own when it
    is behind the code, else the one before the head."""
    if down_to is not None:
        return down_to
    if copy_at is not None and copy_at != head:
        return copy_at
    before = between(None, head)[-1].down_revision
    if before is None:
        raise BackupError("The code has one migration: there is nothing to go back to.")
    return before


def rehearse_release(
    db: Database, settings: Settings, *, point: RestorePoint | None = None,
    down_to: str | None = None, smoke_wait_seconds: float = 30,
    progress: Progress | None = None, earlier_build: Sequence[str] | None = None,
) -> Rehearsal:  # fmt: skip
    """On scratch copies of a restore point: up to this code's head and every smoke
    check; then, on a second copy, up, down to the revision the live data was at (or
    `down_to`) with every row of the tables that stay kept — and, given the earlier
    build's command, that build serving the copy and passing its own smoke checks — up
    again and every smoke check."""
    steps = Steps(progress or Progress())
    rehearsal = Rehearsal(steps=steps.steps, problems=steps.problems)
    rehearsal.head = max(head_revisions())
    rehearsal.earlier_build = " ".join(earlier_build) if earlier_build else None
    point = point_for(db, settings, point, steps, "release-dry-run")
    rehearsal.point, rehearsal.started_at_revision = point.id, point.manifest["migration_head"]
    try:
        target = _way_down(rehearsal.started_at_revision, rehearsal.head, down_to)
        blocking = [m for m in between(target, rehearsal.head) if m.kind != REVERSIBLE]
        rehearsal.down_to = target
        if blocking:
            names = ", ".join(f"{m.revision} ({m.kind})" for m in blocking)
            raise BackupError(
                f"Going back to {target} crosses {names}: a rollback of this release is a "
                "restore, which `darvaza drill restore` rehearses."
            )
        # Two copies of the same data: the smoke checks leave their own tenants behind,
        # and a downgrade may take away what marks them (0015's `synthetic`), so each
        # smoke run sees only what the live data holds.
        with scratch_copy(settings, point, steps) as copy:
            if steps.problems:
                return rehearsal
            _upgrade(copy, steps, rehearsal.head)
            steps.problems += [f"smoke {n} failed after the upgrade"
                               for n in copy.smoke_all(steps, smoke_wait_seconds)]  # fmt: skip
        with scratch_copy(settings, point, steps) as copy:
            _upgrade(copy, steps, rehearsal.head)
            before = _rows(copy.url)
            at = time.monotonic()
            scratch = Database(copy.url)
            try:
                downgrade_to(scratch, target)
            finally:
                scratch.dispose()
            steps.took(f"downgrade to {target}", at)
            after = _rows(copy.url)
            steps.problems += [
                f"{table}: {before[table]} rows before the downgrade, {count} after"
                for table, count in after.items() if table in before and before[table] != count
            ]  # fmt: skip
            if earlier_build:
                steps.problems += copy.smoke_on_build(steps, earlier_build, smoke_wait_seconds)
            _upgrade(copy, steps, rehearsal.head, again=True)
            steps.problems += [f"smoke {n} failed after the downgrade and upgrade"
                               for n in copy.smoke_all(steps, smoke_wait_seconds)]  # fmt: skip
    except (BackupError, ValueError) as exc:
        steps.problems.append(str(exc))
    return rehearsal
