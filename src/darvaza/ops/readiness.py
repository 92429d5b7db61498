"""Readiness: may this process take traffic? Each probe answers on its own, with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import anyio

from darvaza.db import Database
from darvaza.logs import get_logger
from darvaza.revisions import migration_status

log = get_logger("darvaza.ops")


class CheckFailed(Exception):
    """A check's own verdict, safe to show in the public probe body."""


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str
    duration_ms: float


@dataclass(frozen=True)
class ReadinessReport:
    checks: dict[str, CheckResult] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks.values())

    def failing(self) -> list[str]:
        return [name for name, check in self.checks.items() if not check.ok]


def _database_answers(db: Database) -> str:
    db.ping()
    return "answers"


def _migrations_current(db: Database) -> str:
    status = migration_status(db)
    if status.pending:
        raise CheckFailed(status.describe())
    return status.describe()


def readiness_checks(db: Database) -> dict[str, Callable[[], str]]:
    """Name -> check. A check returns a detail line, or raises to say what is wrong."""
    return {
        "database": lambda: _database_answers(db),
        "migrations": lambda: _migrations_current(db),
    }


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


async def check_readiness(
    db: Database,
    timeout_seconds: float,
    *,
    extra_checks: Mapping[str, Callable[[], object]] | None = None,
) -> ReadinessReport:
    """Run every check in a worker thread; one that overruns its deadline counts as failed.

    A database that hangs instead of refusing would otherwise hang the probe too.
    """
    results: dict[str, CheckResult] = {}
    checks: dict[str, Callable[[], object]] = {**readiness_checks(db), **(extra_checks or {})}
    for name, check in checks.items():
        started, logged = time.perf_counter(), False
        ok, detail = False, f"no answer within {timeout_seconds:g}s"
        with anyio.move_on_after(timeout_seconds):
            try:
                answer = await anyio.to_thread.run_sync(check, abandon_on_cancel=True)
                if answer is False:
                    raise CheckFailed("does not answer")
                detail = answer if isinstance(answer, str) else "answers"
                ok = True
            except CheckFailed as exc:
                detail = str(exc)
            except Exception as exc:
                # The probe's body is public: the reason (hosts, SQL) goes to the log only.
                log.warning("readiness_check_failed", check=name, reason=repr(exc), exc_info=True)
                detail, logged = "failed; the reason is in the server log", True
        if not ok and not logged:
            log.warning("readiness_check_failed", check=name, reason=detail)
        results[name] = CheckResult(ok, detail, _since(started))
    return ReadinessReport(results)
