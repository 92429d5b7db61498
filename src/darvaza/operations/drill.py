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
from collections.abc import Iterator
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
    BackupError,
    Progress,
    RestorePoint,
    create_backup,
    engine_of,
)
from darvaza.operations.evidence import Run
from darvaza.operations.restore import plan_restore, restore_backup
from darvaza.operations.smoke.all import run_all
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
    newest = point.manifest.get("newest_change_at")
    if newest is None:
        return None
    return round((utcnow() - datetime.fromisoformat(newest)).total_seconds(), 3)


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
    # No shared rate-limit store, no alert routes: nothing of the drill reaches out.
    dropped = {"DARVAZA_REDIS_URL", "DARVAZA_ALERT_ROUTES_FILE"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        DARVAZA_DATABASE_URL=url, DARVAZA_STORAGE_DIR=str(work / "storage"),
        DARVAZA_AUDIT_CHECKPOINT_DIR=str(work / "checkpoints"),
        DARVAZA_BACKUP_DIR=str(work / "backups"), DARVAZA_HOST="127.0.0.1",
        DARVAZA_PORT=str(port), DARVAZA_PUBLIC_URL=f"http://127.0.0.1:{port}",
        DARVAZA_SERVE_WORKERS="1", DARVAZA_WORKER_IN_PROCESS="false",
        DARVAZA_MAIL_BACKEND="files", DARVAZA_MAIL_DIR=str(work / "mail"),
        DARVAZA_RATE_LIMIT_LOGIN_PER_IP="10000/minute",
        DARVAZA_INSTANCE_NAME=f"{settings.instance_name}-drill", DARVAZA_LOG_LEVEL="warning",
    )  # fmt: skip
    return env


def _darvaza(args: list[str], env: dict[str, str], work: Path) -> None:
    done = subprocess.run(  # noqa: S603 (this Python, our own command)
        [sys.executable, "-m", "darvaza.cli", *args],
        cwd=work, env=env, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        said = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])[:500]
        raise BackupError(f"darvaza {' '.join(args)} failed on the drill's copy: {said}")


@contextmanager
def _served(env: dict[str, str], work: Path, port: int) -> Iterator[str]:
    base = f"http://127.0.0.1:{port}"
    with (work / "serve.log").open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "darvaza.cli", "serve"],
            cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
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


def run_restore_drill(
    db: Database, settings: Settings, *, point: RestorePoint | None = None,
    smoke_wait_seconds: float = 30, progress: Progress = lambda _line: None,
) -> Drill:  # fmt: skip
    """Rehearse the recovery (see the module's note); the drill's steps and verdict."""
    drill = Drill()
    started = time.monotonic()

    def step(name: str, since: float, **more: Any) -> None:
        drill.steps.append({"step": name, "seconds": round(time.monotonic() - since, 3), **more})
        progress(f"{name}: {drill.steps[-1]['seconds']} s")

    at = time.monotonic()
    if point is None:
        point = create_backup(db, settings, folder=Path(settings.backup_dir), label="drill")
        step("backup", at, point=point.id)
    drill.point, drill.rpo_seconds = point.id, _age_of_newest_change(point)
    with tempfile.TemporaryDirectory(prefix="darvaza-drill-") as folder:
        work = Path(folder)
        checkpoints = Path(settings.audit_checkpoint_dir)
        if checkpoints.is_dir():  # the copy: the drill's server may add checkpoints to it
            shutil.copytree(checkpoints, work / "checkpoints")
        local = settings.model_copy(
            update={"audit_checkpoint_dir": str(work / "checkpoints"),
                    "backup_dir": str(work / "backups")}
        )  # fmt: skip
        try:
            with _scratch_target(settings, work, point.engine) as url:
                at = time.monotonic()
                plan = plan_restore(point, local, database_url=url, storage=work / "storage")
                report, _ = restore_backup(plan, local, Actor.system("restore-drill"), force=False)
                drill.problems += report.problems
                step("restore and deep checks", at, result=report.result)
                if drill.problems:
                    return drill
                port = _free_port()
                env = _server_env(url, work, port, settings)
                at = time.monotonic()
                _darvaza(["migrate"], env, work)  # as an operator would, to this code's head
                step("migrate", at)
                target = Database(url)
                try:
                    token = _drill_token(target, settings)
                finally:
                    target.dispose()
                at = time.monotonic()
                with _served(env, work, port) as base:
                    step("start the server", at)
                    at = time.monotonic()
                    reports = run_all(base, token, max_wait_seconds=smoke_wait_seconds)
                    failed = [r.name for r in reports if r.deviations]
                    step("smoke all", at, failed=failed)
                    drill.problems += [f"smoke {name} failed" for name in failed]
                if not drill.problems:
                    drill.rto_seconds = round(time.monotonic() - started, 3)
        except BackupError as exc:
            drill.problems.append(str(exc))
    return drill
