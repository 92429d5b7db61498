"""Job kinds: each domain declares its jobs (name, handler, timeout, attempts) here, in one
table, and the worker runs whatever it claims through `run_claimed`."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from darvaza.db import Database
from darvaza.jobs.queue import Claimed, complete, fail, fail_for_good


class PayloadRejected(Exception):
    """The handler cannot use this payload; retrying will not help."""


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: Callable[[Database, dict[str, Any]], None]
    timeout: timedelta = timedelta(minutes=5)
    max_attempts: int = 5


class Registry:
    def __init__(self) -> None:
        self.kinds: dict[str, JobKind] = {}

    def register(self, kind: JobKind) -> JobKind:
        if kind.name in self.kinds:
            raise ValueError(f"job kind {kind.name} is declared twice")
        self.kinds[kind.name] = kind
        return kind


def run_claimed(db: Database, registry: Registry, job: Claimed, worker: str) -> str:
    """Run one claimed job and record how it ended: succeeded, queued again (a retry),
    dead (last attempt, unknown kind, rejected payload), or lost (the lease went elsewhere)."""
    kind = registry.kinds.get(job.kind)
    if kind is None:
        return fail_for_good(db, job.id, worker, f"unknown job kind {job.kind!r}") or "lost"
    try:
        kind.handler(db, job.payload)
    except PayloadRejected as exc:
        return fail_for_good(db, job.id, worker, f"payload rejected: {exc}") or "lost"
    except Exception:  # noqa: BLE001 (any failure of a handler is the job's failure)
        return fail(db, job.id, worker, traceback.format_exc()) or "lost"
    return "succeeded" if complete(db, job.id, worker) else "lost"
