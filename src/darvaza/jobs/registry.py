"""Job kinds: each domain declares its work in its own `tasks.py` as `Tasks` (job kinds
with their handler and timeout, periodic schedule entries, long-running loops); the
composition root collects them, and the worker runs whatever it claims through `execute`
and writes the outcome with `record`. Nothing here knows a domain.

Running and recording are apart so that a worker can record a batch of successes in one
transaction; `run_claimed` does both for one job.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from darvaza.config import Settings
from darvaza.db import Database
from darvaza.jobs.queue import Claimed, complete_many, fail
from darvaza.jobs.schedule import Periodic
from darvaza.parts import Parts

DEFAULT_TIMEOUT = timedelta(minutes=5)


class PayloadRejected(Exception):
    """The handler cannot use this payload; retrying will not help."""


@dataclass(frozen=True)
class JobContext:
    """What a handler gets: the same assembled parts the API runs on, and its job."""

    parts: Parts
    job: Claimed
    # Set when the job has run past its kind's timeout or the worker must stop at once.
    # Python cannot stop a thread from outside, so long handlers look at it between steps.
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def db(self) -> Database:
        return self.parts.db

    @property
    def settings(self) -> Settings:
        return self.parts.settings

    def should_stop(self) -> bool:
        return self.stop.is_set()


Handler = Callable[[JobContext, dict[str, Any]], object]
# Work that never ends (the audit log's sealer): runs on its own thread until `stop` is set.
Loop = Callable[[Parts, threading.Event], None]


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: Handler
    timeout: timedelta = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class Tasks:
    """What one domain gives the worker: its job kinds, when the periodic ones run, and
    its loops."""

    kinds: Sequence[JobKind] = ()
    schedule: Sequence[Periodic] = ()
    loops: Sequence[Loop] = ()


class Registry:
    def __init__(self, kinds: Iterable[JobKind] = ()) -> None:
        self.kinds: dict[str, JobKind] = {}
        for kind in kinds:
            self.register(kind)

    def register(self, kind: JobKind) -> JobKind:
        if kind.name in self.kinds:
            raise ValueError(f"job kind {kind.name} is declared twice")
        self.kinds[kind.name] = kind
        return kind

    def timeout_of(self, kind: str) -> timedelta:
        known = self.kinds.get(kind)
        return known.timeout if known else DEFAULT_TIMEOUT


@dataclass(frozen=True)
class Work:
    """Every domain's `Tasks`, collected by the composition root: one registry of kinds,
    one schedule, and the loops."""

    registry: Registry
    schedule: tuple[Periodic, ...]
    loops: tuple[Loop, ...]

    @property
    def upkeep(self) -> tuple[str, ...]:
        """The kinds an operator may run all at once (`darvaza jobs enqueue-ops`): every
        scheduled one that is upkeep, once each."""
        return tuple(dict.fromkeys(entry.kind for entry in self.schedule if entry.upkeep))

    def schedule_for(self, settings: Settings) -> tuple[Periodic, ...]:
        """The schedule as the settings have it (some entries' times are settings)."""
        configured = (entry.configured(settings) for entry in self.schedule)
        return tuple(entry for entry in configured if entry is not None)

    @classmethod
    def collect(cls, tasks: Sequence[Tasks]) -> Work:
        registry = Registry(kind for each in tasks for kind in each.kinds)
        schedule = tuple(entry for each in tasks for entry in each.schedule)
        for entry in schedule:
            if entry.kind not in registry.kinds:
                raise ValueError(f"{entry.kind} is scheduled but no domain declares it")
            if entry.setting is not None and entry.setting not in Settings.model_fields:
                raise ValueError(f"{entry.kind}: no setting {entry.setting}")
        return cls(registry, schedule, tuple(loop for each in tasks for loop in each.loops))


@dataclass(frozen=True)
class Result:
    """How one attempt ended: `succeeded`, `failed` (retry if attempts remain) or `dead`
    (retrying cannot help)."""

    job: Claimed
    outcome: str
    seconds: float
    error: str | None = None


def execute(registry: Registry, context: JobContext) -> Result:
    """Run one claimed job's handler; never raises."""
    job = context.job
    started = time.perf_counter()

    def ended(outcome: str, error: str | None = None) -> Result:
        return Result(job, outcome, time.perf_counter() - started, error)

    kind = registry.kinds.get(job.kind)
    if kind is None:
        return ended("dead", f"unknown job kind {job.kind!r}")
    try:
        kind.handler(context, job.payload)
    except PayloadRejected as exc:
        return ended("dead", f"payload rejected: {exc}")
    except (Exception, SystemExit):  # noqa: BLE001 (any failure of a handler is the job's)
        # SystemExit too: a handler calling sys.exit() would otherwise end the worker's
        # thread silently, leaving its job leased and running until its timeout.
        return ended("failed", traceback.format_exc())
    if context.should_stop():
        # It returned, but only after its deadline: the attempt counts as failed.
        return ended("failed", f"timed out after {kind.timeout.total_seconds():g}s")
    return ended("succeeded")


def record(db: Database, results: Sequence[Result]) -> Counter[str]:
    """Write how attempts ended, successes in one transaction. Counts the new states:
    succeeded, queued (a retry), dead, and lost (the lease had gone elsewhere)."""
    counts: Counter[str] = Counter()
    succeeded = [r.job for r in results if r.outcome == "succeeded"]
    if succeeded:
        done = complete_many(db, succeeded)
        counts["succeeded"] += done
        counts["lost"] += len(succeeded) - done
    for result in results:
        if result.outcome != "succeeded":
            error = result.error or "failed"
            counts[fail(db, result.job, error, final=result.outcome == "dead") or "lost"] += 1
    return +counts  # without the zeros


def run_claimed(parts: Parts, registry: Registry, job: Claimed) -> str:
    """Run one claimed job and record how it ended; returns the job's new state."""
    (state,) = record(parts.db, [execute(registry, JobContext(parts, job))])
    return state
