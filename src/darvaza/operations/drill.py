"""The restore drill: the whole recovery rehearsed where nothing real can be touched.

Take a restore point (or use the one named), restore it into a scratch target (a SQLite
file, or a new `darvaza_scratch_…` PostgreSQL database), migrate it to this code's head,
run the deep checks, start `darvaza serve` on a free port against it, run every smoke
check there, stop it, and say how long it took from the start to green smoke checks (the
RTO) and how old the newest change in the restore point was (the RPO).

The drill's server is cut off from the world: its worker does not run (no mail, no
gateway calls, no alerts), its mail goes to files, its links point at itself, it keeps
its own checkpoint folder (a copy) and shares no rate-limit store; the smoke checks' many
sign-ins are allowed on it. Everything it wrote goes with the scratch target.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

from darvaza.clock import utcnow
from darvaza.config import Settings
from darvaza.db import Database
from darvaza.identity import service as identity
from darvaza.operations.backup_verify import scratch_name
from darvaza.operations.backups import (
    Progress,
    RestorePoint,
    create_backup,
    engine_of,
)
from darvaza.operations.errors import BackupError
from darvaza.operations.evidence import Run
from darvaza.operations.restore import plan_restore, restore_backup
from darvaza.operations.smoke.all import run_all
from darvaza.revisions import migration_status
from darvaza.security.caller import Actor
from darvaza.security.roles import PlatformRole

SERVER_START_SECONDS = 90


@dataclass
class Drill:
    point: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    rto_seconds: float | None = None
    rpo_seconds: float | None = None

    @property
    def result(self) -> str:
        return "failed" if self.problems or self.rto_seconds is None else "passed"

    def details(self) -> dict[str, Any]:
        return {
            "point": self.point, "rto_seconds": self.rto_seconds,
            "rpo_seconds": self.rpo_seconds, "steps": self.steps,
            "problems": self.problems[:50],
        }  # fmt: skip

    def run(self, *, started_at: datetime) -> Run:
        """Its `restore_drill` evidence."""
        return Run("restore_drill", "restore", self.result, self.details(), started_at=started_at)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _scratch_target(settings: Settings, work: Path, engine: str) -> Iterator[str]:
    if engine == "sqlite":
        yield f"sqlite:///{work / 'drill.sqlite3'}"
        return
    live = make_url(settings.database_url)
    if engine_of(live) != "postgresql":
        raise BackupError(
            "A PostgreSQL restore point is drilled on the configured PostgreSQL server."
        )
    name = scratch_name(live)
    try:
        yield live.set(database=name).render_as_string(hide_password=False)
    finally:
        admin = Database(live.set(database="postgres"))
        try:
            with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()


def _age_of_newest_change(point: RestorePoint) -> float | None:
    """The RPO: how much a recovery from this point loses, as of now."""
    newest = point.newest_change_at
    return None if newest is None else round((utcnow() - newest).total_seconds(), 3)


def _drill_token(target: Database, settings: Settings) -> str:
    """A platform admin of the scratch copy only, for the smoke checks."""
    actor = Actor.system("restore-drill")
    email = f"drill-{secrets.token_hex(6)}@example.com"
    identity.create_user(
        target, actor, email=email, password=secrets.token_urlsafe(24),
        min_length=settings.password_min_length, platform_role=PlatformRole.PLATFORM_ADMIN,
    )  # fmt: skip
    made = identity.create_api_token(
        target, actor, email=email, name="restore drill", expires_in_days=1, max_days=1
    )
    return made.token


def _server_env(url: str, work: Path, port: int, settings: Settings) -> dict[str, str]:
    # No shared rate-limit store, no alert routes: nothing of the drill reaches out. The
    # scratch copy serves on loopback over plain http, which a staging or production
    # profile refuses to start with: it serves as `local` (its instance name says whose
    # copy it is), so a drill runs on every profile. No nginx stands in front of it: it
    # sends its files itself.
    dropped = {"DARVAZA_REDIS_URL", "DARVAZA_ALERT_ROUTES_FILE"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        DARVAZA_DATABASE_URL=url, DARVAZA_STORAGE_DIR=str(work / "storage"),
        DARVAZA_AUDIT_CHECKPOINT_DIR=str(work / "checkpoints"),
        DARVAZA_BACKUP_DIR=str(work / "backups"), DARVAZA_HOST="127.0.0.1",
        DARVAZA_PORT=str(port), DARVAZA_PUBLIC_URL=f"http://127.0.0.1:{port}",
        DARVAZA_PROFILE="local", DARVAZA_DOWNLOAD_OFFLOAD="none",
        DARVAZA_SERVE_WORKERS="1", DARVAZA_WORKER_IN_PROCESS="false",
        DARVAZA_MAIL_BACKEND="files", DARVAZA_MAIL_DIR=str(work / "mail"),
        DARVAZA_RATE_LIMIT_LOGIN_PER_IP="10000/minute",
        DARVAZA_INSTANCE_NAME=f"{settings.instance_name}-drill", DARVAZA_LOG_LEVEL="warning",
    )  # fmt: skip
    return env


# This build's CLI; an earlier build's is the command an operator gives for it.
THIS_BUILD: tuple[str, ...] = (sys.executable, "-m", "darvaza.cli")


def _darvaza(
    args: list[str], env: dict[str, str], work: Path, build: Sequence[str] = THIS_BUILD
) -> str:
    """What the command printed; a BackupError naming it when it failed."""
    try:
        done = subprocess.run(  # noqa: S603 (our own command, or the operator's build of it)
            [*build, *args],
            cwd=work, env=env, capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
    except OSError as exc:
        raise BackupError(f"Cannot run {' '.join(build)}: {exc}") from None
    if done.returncode != 0:
        said = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])[:500]
        raise BackupError(f"darvaza {' '.join(args)} failed on the scratch copy: {said}")
    return done.stdout


@contextmanager
def _served(
    env: dict[str, str], work: Path, port: int, build: Sequence[str] = THIS_BUILD
) -> Iterator[str]:
    base = f"http://127.0.0.1:{port}"
    with (work / "serve.log").open("w") as log:
        server = subprocess.Popen(  # noqa: S603 (as above)
            [*build, "serve"], cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=log
        )
        try:
            deadline = time.monotonic() + SERVER_START_SECONDS
            while True:
                if server.poll() is not None:
                    said = (work / "serve.log").read_text()[-500:]
                    raise BackupError(f"The drill's server stopped at once: {said}")
                try:
                    if httpx.get(base + "/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise BackupError(
                        f"The drill's server did not answer in {SERVER_START_SECONDS} s."
                    )
                time.sleep(0.2)
            yield base
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


@dataclass
class Steps:
    """A rehearsal's steps, each with its seconds, and what went wrong."""

    progress: Progress
    steps: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def took(self, name: str, since: float, **more: Any) -> None:
        self.steps.append({"step": name, "seconds": round(time.monotonic() - since, 3), **more})
        self.progress(f"{name}: {self.steps[-1]['seconds']} s")


@dataclass(frozen=True)
class ScratchCopy:
    """A restore point restored where nothing real is touched, to migrate, check and serve."""

    url: str
    work: Path
    settings: Settings  # the live settings, with the copy's own folders
    port: int

    @property
    def env(self) -> dict[str, str]:
        return _server_env(self.url, self.work, self.port, self.settings)

    def darvaza(self, *args: str) -> None:
        _darvaza(list(args), self.env, self.work)

    def revision(self) -> str | None:
        target = Database(self.url)
        try:
            return next(iter(migration_status(target).current), None)
        finally:
            target.dispose()

    def smoke_all(self, steps: Steps, wait_seconds: float) -> list[str]:
        """Serve the copy on its port and run every smoke check; the ones that failed."""
        target = Database(self.url)
        try:
            token = _drill_token(target, self.settings)
        finally:
            target.dispose()
        at = time.monotonic()
        with _served(self.env, self.work, self.port) as base:
            steps.took("start the server", at)
            at = time.monotonic()
            reports = run_all(base, token, max_wait_seconds=wait_seconds)
            failed = [report.name for report in reports if report.deviations]
            steps.took("smoke all", at, failed=failed)
        return failed

    def smoke_on_build(self, steps: Steps, build: Sequence[str], wait_seconds: float) -> list[str]:
        """Serve the copy with another build (`build` runs its CLI) and run that build's
        own smoke checks, everything through its CLI (its admin, its token, its checks:
        this build's would ask for routes it does not have); the problems. A build that
        moves the copy's schema is not one that expects it, and is said so."""
        at_revision = self.revision()
        email = f"dry-run-{secrets.token_hex(6)}@example.com"
        try:
            _darvaza(["users", "create", "--email", email, "--role", "platform_admin"],
                     {**self.env, "DARVAZA_PASSWORD": secrets.token_urlsafe(24)}, self.work,
                     build)  # fmt: skip
            token = _darvaza(["tokens", "create", "--email", email, "--name", "release dry-run"],
                             self.env, self.work, build).strip()  # fmt: skip
            at = time.monotonic()
            with _served(self.env, self.work, self.port, build) as base:
                steps.took("start the earlier build", at)
                if (now_at := self.revision()) != at_revision:
                    return [f"The earlier build moved the copy from {at_revision} to {now_at}: "
                            f"it is not a build that expects {at_revision}."]  # fmt: skip
                at = time.monotonic()
                try:
                    _darvaza(["smoke", "all", "--base-url", base, "--admin-token", token,
                              "--max-wait", f"{wait_seconds:g}"], self.env, self.work,
                             build)  # fmt: skip
                    failed: list[str] = []
                except BackupError as exc:
                    failed = [f"the earlier build's smoke checks failed: {exc}"]
                steps.took("smoke all on the earlier build", at, failed=failed)
                return failed
        except BackupError as exc:
            return [f"the earlier build: {exc}"]


@contextmanager
def scratch_copy(settings: Settings, point: RestorePoint, steps: Steps) -> Iterator[ScratchCopy]:
    """`point` restored into a scratch target and deep-checked (problems go to `steps`),
    with copies of the checkpoint folder; everything goes when the block ends."""
    with tempfile.TemporaryDirectory(prefix="darvaza-drill-") as folder:
        work = Path(folder)
        checkpoints = Path(settings.audit_checkpoint_dir)
        if checkpoints.is_dir():  # the copy: the copy's server may add checkpoints to it
            shutil.copytree(checkpoints, work / "checkpoints")
        local = settings.model_copy(
            update={"audit_checkpoint_dir": str(work / "checkpoints"),
                    "backup_dir": str(work / "backups")}
        )  # fmt: skip
        with _scratch_target(settings, work, point.engine) as url:
            at = time.monotonic()
            plan = plan_restore(point, local, database_url=url, storage=work / "storage")
            report, _ = restore_backup(
                plan, local, Actor.system("restore-drill"), force=False, progress=steps.progress
            )
            steps.problems += report.problems
            steps.took("restore and deep checks", at, result=report.result)
            yield ScratchCopy(url, work, settings, _free_port())


def point_for(db: Database, settings: Settings, point: RestorePoint | None, steps: Steps,
              label: str) -> RestorePoint:  # fmt: skip
    """The restore point named, or a new one."""
    if point is not None:
        return point
    at = time.monotonic()
    point = create_backup(
        db, settings, folder=Path(settings.backup_dir), label=label, progress=steps.progress
    )
    steps.took("backup", at, point=point.id)
    return point


def run_restore_drill(
    db: Database, settings: Settings, *, point: RestorePoint | None = None,
    smoke_wait_seconds: float = 30, progress: Progress | None = None,
) -> Drill:  # fmt: skip
    """Rehearse the recovery (see the module's note); the drill's steps and verdict."""
    steps = Steps(progress or Progress())
    drill = Drill(steps=steps.steps, problems=steps.problems)
    started = time.monotonic()
    point = point_for(db, settings, point, steps, "drill")
    drill.point, drill.rpo_seconds = point.id, _age_of_newest_change(point)
    try:
        with scratch_copy(settings, point, steps) as copy:
            if steps.problems:
                return drill
            at = time.monotonic()
            copy.darvaza("migrate")  # as an operator would, to this code's head
            steps.took("migrate", at)
            failed = copy.smoke_all(steps, smoke_wait_seconds)
            steps.problems += [f"smoke {name} failed" for name in failed]
            if not steps.problems:
                drill.rto_seconds = round(time.monotonic() - started, 3)
    except BackupError as exc:
        steps.problems.append(str(exc))
    return drill
