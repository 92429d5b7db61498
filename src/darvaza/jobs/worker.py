"""The worker: claims due jobs, runs them on a pool of threads, and keeps its promises
when things go wrong.

- A heartbeat thread renews the leases of the jobs it runs, writes the worker's row in
  `worker_heartbeats`, rescues jobs of workers that died, and enqueues periodic jobs.
- Each kind has a timeout, measured on the monotonic clock. Past it the job's stop flag is
  set (handlers look at it between steps) and its result, when it comes, is a failure.
  Python cannot kill a thread: a job still running `HUNG_GRACE` after its timeout makes
  the worker stop claiming, let the others finish, fail the hung job and exit with
  `EXIT_HUNG`, so its supervisor restarts it. The job keeps its lease until then, so it
  never runs twice at once.
- `stop()` (SIGTERM) drains: no new claims; running jobs get `shutdown_grace` seconds to
  finish; what is still running then goes back to the queue without using an attempt.
- Successes are written in batches, one transaction per batch: with short jobs, commits
  are the cost that matters.
- On PostgreSQL a listener thread wakes the claim loop when a job becomes due
  (`wakeups.py`); the poll is the fallback.
- Loops (`WorkerConfig.loops`) are work that never ends, such as the audit log's sealer:
  each runs on a thread of its own for the worker's whole life, until it has drained.
"""

from __future__ import annotations

import os
import queue
import secrets
import signal
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from darvaza.clock import utcnow
from darvaza.jobs.models import WorkerHeartbeat
from darvaza.jobs.queue import (
    Claimed,
    LeaseWatch,
    complete_and_claim,
    fail,
    release,
    renew_leases,
)
from darvaza.jobs.registry import JobContext, Loop, Registry, Result, execute, record
from darvaza.jobs.schedule import Periodic, enqueue_due
from darvaza.jobs.wakeups import listen_for_due_jobs
from darvaza.logs import get_logger
from darvaza.metrics import Metrics
from darvaza.parts import Parts

log = get_logger("darvaza.worker")

EXIT_HUNG = 3
HUNG_GRACE = timedelta(seconds=10)
# A loop's body: runs until the event is set, and must survive its own errors.


@dataclass(frozen=True)
class WorkerConfig:
    concurrency: int = 4
    queues: tuple[str, ...] = ("default",)
    lease: timedelta = timedelta(seconds=30)
    poll_seconds: float = 1.0
    shutdown_grace_seconds: float = 30.0
    schedule: Sequence[Periodic] = ()
    hung_grace: timedelta = HUNG_GRACE
    batch_window_seconds: float = 0.005
    # Wake on PostgreSQL's notices when a job becomes due, rather than waiting for the poll.
    listen: bool = True
    loops: Sequence[Loop] = ()

    @property
    def heartbeat_seconds(self) -> float:
        # Three renewals per lease: one missed heartbeat never costs a lease.
        return self.lease.total_seconds() / 3


def run_until_signalled(worker: Worker) -> int:
    """Run a worker as the process's main work: SIGTERM and SIGINT drain it."""
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    signal.signal(signal.SIGINT, lambda *_: worker.stop())
    return worker.run()


@dataclass
class _Running:
    context: JobContext
    deadline: float  # monotonic
    timed_out: bool = False
    result: Result | None = None  # finished, not yet written


@dataclass
class _Counts:
    succeeded: int = 0
    failed: int = 0


class Worker:
    def __init__(
        self,
        parts: Parts,
        registry: Registry,
        config: WorkerConfig,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self.parts = parts
        self.db = parts.db
        self.registry = registry
        self.config = config
        self.metrics = metrics
        self.id = f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"
        self.counts = _Counts()
        self.exit_code = 0
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._finished = threading.Event()
        self._inbox: queue.SimpleQueue[JobContext | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[Result] = queue.SimpleQueue()
        self._running: dict[int, _Running] = {}
        self._succeeded: list[Result] = []  # touched by the claim loop only
        self._lock = threading.Lock()
        self._lease_watch = LeaseWatch(config.lease)

    # -- control ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Drain and stop (SIGTERM). Safe to call from a signal handler or another thread."""
        self._stopping.set()
        self._wake.set()

    def run(self) -> int:
        """Work until stopped; returns the process exit code (0, or `EXIT_HUNG`)."""
        self._write_heartbeat("running", first=True)
        runners = [
            threading.Thread(target=self._runner, name=f"job-{n}", daemon=True)
            for n in range(self.config.concurrency)
        ]
        for runner in runners:
            runner.start()
        beat = threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True)
        beat.start()
        listener = threading.Thread(
            target=listen_for_due_jobs,
            args=(self.db, self.config.queues, self._wake.set, self._stopping),
            name="job-listener",
            daemon=True,
        )
        if self.config.listen and self.db.backend == "postgresql":
            listener.start()
        loops = [
            threading.Thread(
                target=loop, args=(self.parts, self._finished), name=loop.__name__, daemon=True
            )
            for loop in self.config.loops
        ]
        for thread in loops:
            thread.start()
        log.info("worker_started", worker=self.id, concurrency=self.config.concurrency)
        try:
            self._work()
        finally:
            self._drain()
            for _ in runners:
                self._inbox.put(None)
            self._finished.set()
            beat.join(timeout=5)
            if listener.is_alive():
                listener.join(timeout=5)
            for thread in loops:
                thread.join(timeout=5)
            self._write_heartbeat("stopped")
            log.info(
                "worker_stopped",
                worker=self.id,
                exit_code=self.exit_code,
                succeeded=self.counts.succeeded,
                failed=self.counts.failed,
            )
        return self.exit_code

    # -- the claim loop --------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stopping.is_set():
            self._collect()
            if self._check_deadlines():
                self.exit_code = EXIT_HUNG
                return
            free = self.config.concurrency - self._busy()
            claimed = self._settle_and_claim(free)
            if len(claimed) < free or free == 0:
                # Nothing more is due, or every thread is busy: wait for a finished job,
                # a stop, or the next poll; then a moment more, so that jobs finishing
                # together are recorded, and their slots refilled, in one transaction.
                if self._wake.wait(self.config.poll_seconds):
                    time.sleep(self.config.batch_window_seconds)
                self._wake.clear()

    def _busy(self) -> int:
        with self._lock:
            return sum(1 for r in self._running.values() if r.result is None)

    def _settle_and_claim(self, limit: int) -> list[Claimed]:
        """Record the successes waiting to be written and claim up to `limit` new jobs, in
        one transaction."""
        done = list(self._succeeded)
        if not done and limit <= 0:
            return []
        try:
            completed, claimed = complete_and_claim(
                self.db,
                [result.job for result in done],
                self.id,
                limit=max(0, limit),
                lease=self.config.lease,
                queues=self.config.queues,
            )
        except SQLAlchemyError:
            # The successes stay in hand (their leases renewed) and are written next time.
            log.warning("claim_failed", worker=self.id, exc_info=True)
            return []
        self._succeeded.clear()
        with self._lock:
            for result in done:
                self._running.pop(result.job.id, None)
        self.counts.succeeded += completed
        if completed < len(done):
            # Rescued while we ran them (we were too slow to renew): another attempt owns them.
            self.counts.failed += len(done) - completed
            log.warning("results_refused", worker=self.id, jobs=len(done) - completed)
        self._observe(done)
        for job in claimed:
            self._start(job)
        return claimed

    def _start(self, job: Claimed) -> None:
        context = JobContext(self.parts, job)
        timeout = self.registry.timeout_of(job.kind).total_seconds()
        with self._lock:
            self._running[job.id] = _Running(context, time.monotonic() + timeout)
        self._inbox.put(context)

    def _runner(self) -> None:
        while True:
            context = self._inbox.get()
            if context is None:
                return
            if context.stop.is_set():
                continue  # given back before it started
            self._done.put(execute(self.registry, context))
            self._wake.set()

    def _collect(self) -> None:
        """Take the attempts that ended since the last look: failures are written now,
        successes wait for the next claim's transaction."""
        results: list[Result] = []
        while True:
            try:
                results.append(self._done.get_nowait())
            except queue.Empty:
                break
        if not results:
            return
        failures = [r for r in results if r.outcome != "succeeded"]
        self._succeeded.extend(r for r in results if r.outcome == "succeeded")
        with self._lock:
            for result in results:
                if result.job.id in self._running:
                    self._running[result.job.id].result = result
            for result in failures:
                self._running.pop(result.job.id, None)
        if not failures:
            return
        try:
            record(self.db, failures)
        except SQLAlchemyError:
            # Their leases run out and the jobs are rescued and run again: at least once.
            log.warning("record_failed", worker=self.id, jobs=len(failures), exc_info=True)
        self.counts.failed += len(failures)
        for result in failures:
            log.warning(
                "job_failed",
                worker=self.id,
                job_id=result.job.id,
                kind=result.job.kind,
                attempt=result.job.attempts,
                outcome=result.outcome,
                error=(result.error or "").strip().splitlines()[-1][:300],
            )
        self._observe(failures)

    def _observe(self, results: Sequence[Result]) -> None:
        if self.metrics is not None:
            for result in results:
                self.metrics.observe_job(result.job.kind, result.outcome, result.seconds)

    def _check_deadlines(self) -> bool:
        """Flag jobs past their timeout; True when one is hung past the grace period."""
        now = time.monotonic()
        grace = self.config.hung_grace.total_seconds()
        hung = False
        with self._lock:
            for running in self._running.values():
                if running.result is not None:
                    continue
                if now > running.deadline and not running.timed_out:
                    running.timed_out = True
                    running.context.stop.set()
                    log.warning(
                        "job_timed_out",
                        worker=self.id,
                        job_id=running.context.job.id,
                        kind=running.context.job.kind,
                    )
                if running.timed_out and now > running.deadline + grace:
                    hung = True
        if hung:
            log.error(
                "worker_hung",
                worker=self.id,
                message="a job ignored its timeout; stopping so the supervisor restarts "
                "this worker",
            )
        return hung

    # -- stopping --------------------------------------------------------------------------

    def _drain(self) -> None:
        self._stopping.set()
        self._write_heartbeat("draining")
        deadline = time.monotonic() + self.config.shutdown_grace_seconds
        while time.monotonic() < deadline:
            self._collect()
            with self._lock:
                waiting = [
                    r for r in self._running.values() if r.result is None and not r.timed_out
                ]
            if not waiting:
                break
            self._wake.wait(0.05)
            self._wake.clear()
        self._collect()
        self._settle_and_claim(0)
        with self._lock:
            left = [r for r in self._running.values() if r.result is None]
            self._running.clear()
        for running in left:
            running.context.stop.set()
        hung = [r.context.job for r in left if r.timed_out]
        unfinished = [r.context.job for r in left if not r.timed_out]
        try:
            for job in hung:
                timeout = self.registry.timeout_of(job.kind).total_seconds()
                fail(self.db, job, f"timed out after {timeout:g}s and did not stop")
            if unfinished:
                release(self.db, unfinished, f"released: worker {self.id} stopped mid-run")
                log.warning("jobs_released", worker=self.id, jobs=[j.id for j in unfinished])
        except SQLAlchemyError:
            log.warning("drain_write_failed", worker=self.id, exc_info=True)

    # -- the heartbeat ---------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        while not self._finished.wait(self.config.heartbeat_seconds):
            self.beat()

    def beat(self) -> None:
        """One heartbeat: renew leases, report, rescue dead workers' jobs, schedule."""
        with self._lock:
            held = {r.context.job.id: r.context for r in self._running.values()}
        steps = (
            ("renew", lambda: self._renew(held)),
            (
                "report",
                lambda: self._write_heartbeat("draining" if self._stopping.is_set() else "running"),
            ),
            ("rescue", lambda: self._lease_watch.rescue(self.db)),
            ("schedule", lambda: enqueue_due(self.db, self.config.schedule)),
        )
        for name, step in steps:
            try:
                step()
            except SQLAlchemyError:
                log.warning("heartbeat_step_failed", worker=self.id, step=name, exc_info=True)

    def _renew(self, held: dict[int, JobContext]) -> None:
        if not held:
            return
        renewed = renew_leases(self.db, [c.job for c in held.values()], self.config.lease)
        lost = sorted(set(held) - renewed)
        if lost:
            # This worker went a whole lease without renewing (its database was out of reach)
            # and the jobs were rescued; they may run elsewhere now. Ours are told to stop,
            # and their results are refused.
            for job_id in lost:
                held[job_id].stop.set()
            log.warning("leases_lost", worker=self.id, jobs=lost)

    def _write_heartbeat(self, state: str, *, first: bool = False) -> None:
        now = utcnow()
        values = {
            "state": state,
            "last_seen_at": now,
            "jobs_running": len(self._running),
            "jobs_succeeded": self.counts.succeeded,
            "jobs_failed": self.counts.failed,
        }
        try:
            with self.db.transaction() as session:
                if first:
                    session.add(
                        WorkerHeartbeat(
                            id=self.id,
                            host=socket.gethostname()[:255],
                            pid=os.getpid(),
                            queues=",".join(self.config.queues)[:200],
                            concurrency=self.config.concurrency,
                            started_at=now,
                            **values,
                        )
                    )
                else:
                    session.execute(
                        update(WorkerHeartbeat)
                        .where(WorkerHeartbeat.id == self.id)
                        .values(**values)
                    )
        except SQLAlchemyError:
            log.warning("heartbeat_write_failed", worker=self.id, exc_info=True)
