"""The audit log on PostgreSQL: audited transactions a second with 1, 8 and 32 concurrent
writers, the seal delay under that load, and the sealer's throughput; beside the same
transactions serialised on one locked row (what every audited write did before the
sealer) and `pgbench` running one-row inserts, in the same run.

Writers are threads spread over up to four processes (as API processes would be), each
committing one audited transaction after another: `append_event` alone, or `append_event`
and then 5 ms more inside the transaction (a stand-in for the rest of a real audited
transaction: its other statements and round trips). The sealer runs all the while in a
process of its own, as a worker's loop would.

    .venv/bin/python -m bench.audit [--seconds 8] [--events 100000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from bench.support import pgbench, postgres_database
from darvaza.audit.checkpoints import AuditKeys, CheckpointFolder, seal_all
from darvaza.audit.models import AuditCheckpoint, AuditEvent, AuditSeal
from darvaza.audit.sealer import run_sealer
from darvaza.audit.service import append_event
from darvaza.audit.verify import covering_checkpoint
from darvaza.db import Database
from darvaza.migrate import upgrade_to_head
from darvaza.security.caller import Actor

ACTOR = Actor.system("bench")
KEYS = AuditKeys.from_secret("bench-audit-key-" + "x" * 32)
PROCESSES = 4
LEVELS = (1, 8, 32)


def _write(url: str, threads: int, ready: Any, seconds: float, hold: float, lock: bool,
           action: str, results: Any) -> None:  # fmt: skip
    """One writer process: `threads` writers, counting the transactions they commit in the
    `seconds` after every process has started (the barrier `ready`)."""
    db = Database(url, pool_size=threads)
    done = [0] * threads
    db.ping()
    ready.wait()  # imports and connections are done everywhere: the clock starts now
    deadline = time.monotonic() + seconds

    def write(i: int) -> None:
        while time.monotonic() < deadline:
            with db.transaction() as session:
                if lock:  # the old design: one row every audited transaction locks
                    session.execute(text("SELECT 1 FROM bench_head WHERE id = 1 FOR UPDATE"))
                append_event(session, action=action, actor=ACTOR, data={"writer": i})
                if hold:
                    time.sleep(hold)
            done[i] += 1

    pool = [threading.Thread(target=write, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    db.dispose()
    results.put(sum(done))


def writers(url: str, count: int, seconds: float, *, hold: float, lock: bool, action: str) -> float:
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    processes = min(count, PROCESSES)
    ready = spawn.Barrier(processes)
    pool = [
        spawn.Process(
            target=_write,
            args=(url, count // processes, ready, seconds, hold, lock, action, results),
        )
        for _ in range(processes)
    ]
    for process in pool:
        process.start()
    total = sum(results.get() for _ in pool)
    for process in pool:
        process.join()
    return total / seconds


def _seal(url: str, folder: str, stop_file: str) -> None:
    """The sealer process: the worker's loop, until `stop_file` appears."""
    db, stop = Database(url), threading.Event()

    def watch() -> None:
        while not Path(stop_file).exists():
            time.sleep(0.1)
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    run_sealer(db, KEYS, CheckpointFolder(Path(folder)), stop)
    db.dispose()


def seal_delays(db: Database, action: str) -> list[float]:
    """Seconds from each event's append to the commit of its checkpoint."""
    with db.read() as session:
        rows = session.execute(
            select(AuditCheckpoint.created_at, AuditEvent.occurred_at)
            .join(AuditSeal, AuditSeal.event_id == AuditEvent.id)
            .join(AuditCheckpoint, covering_checkpoint())
            .where(AuditEvent.action == action)
        ).all()
    return [(sealed - appended).total_seconds() for sealed, appended in rows]


def fill(db: Database, events: int) -> None:
    batch = 5000
    for start in range(0, events, batch):
        with db.transaction() as session:
            for i in range(start, min(events, start + batch)):
                append_event(session, action="bench.fill", actor=ACTOR, data={"i": i})


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


class WaitSampler:
    """Samples what the writers' backends are doing, every 20 ms: the share of samples
    waiting on a lock is what serialised audited writes show up as."""

    def __init__(self, url: str) -> None:
        self.db, self.stop = Database(url), threading.Event()
        self.samples: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        query = text(
            "SELECT coalesce(wait_event_type, 'CPU') FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND state = 'active' AND (query LIKE 'INSERT INTO audit_events%' "
            "OR query LIKE 'SELECT 1 FROM bench_head%')"
        )
        while not self.stop.wait(0.02):
            with self.db.read() as session:
                self.samples += list(session.scalars(query))

    def __enter__(self) -> WaitSampler:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()
        self.db.dispose()

    def lock_share(self) -> float:
        return self.samples.count("Lock") / len(self.samples) if self.samples else 0.0


def _cells(by_level: dict[int, float]) -> str:
    return "  ".join(f"{n:2}: {r:6.0f}/s ({r / by_level[1]:4.1f}x)" for n, r in by_level.items())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    workloads = {  # name: (hold, lock)
        "append": (0.0, False),
        "append + 5 ms": (0.005, False),
        "append + 5 ms, one locked row (old)": (0.005, True),
    }
    with postgres_database(args.postgres) as url, tempfile.TemporaryDirectory() as folder:
        if url is None:
            return
        db = Database(url)
        upgrade_to_head(db)
        with db.engine.begin() as connection:
            connection.execute(text("CREATE TABLE bench_head (id int PRIMARY KEY)"))
            connection.execute(text("INSERT INTO bench_head VALUES (1)"))
        stop_file = str(Path(folder) / "stop")
        sealer = multiprocessing.get_context("spawn").Process(
            target=_seal, args=(url, str(Path(folder) / "checkpoints"), stop_file)
        )
        sealer.start()
        rates: dict[str, dict[int, float]] = {}
        locked: dict[str, float] = {}
        for name, (hold, lock) in workloads.items():
            rates[name] = {}
            for n in LEVELS:
                with WaitSampler(url) as sampler:
                    rates[name][n] = writers(
                        url, n, args.seconds, hold=hold, lock=lock, action=f"{name}|{n}"
                    )
                if n == max(LEVELS):
                    locked[name] = sampler.lock_share()
        time.sleep(2)  # the last events' seals
        Path(stop_file).touch()
        sealer.join(30)
        delays = {n: seal_delays(db, f"append|{n}") for n in LEVELS}
        fill(db, args.events)
        started = time.perf_counter()
        sealed = seal_all(db, KEYS, CheckpointFolder(Path(folder) / "checkpoints"))
        took = time.perf_counter() - started
        with db.read() as session:
            total = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
        db.dispose()
        script = Path(folder) / "insert.sql"
        script.write_text(
            "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
            "VALUES (1, 1, 1, 1, CURRENT_TIMESTAMP);\n"
        )
        inserts = {}
        if shutil.which("pgbench"):
            inserts = {n: pgbench(url, n, int(args.seconds), script=str(script)) for n in LEVELS}
    print("audited transactions a second (PostgreSQL, one event each)")
    for name, by_level in rates.items():
        print(f"  {name:38} {_cells(by_level)}  lock waits at 32: {locked[name]:.0%}")
    if inserts:
        print(f"  {'pgbench, one-row insert':38} {_cells(inserts)}")
    print("seal delay while the writers ran ('append' rows; append to checkpoint commit)")
    for n, values in delays.items():
        print(f"  {n:2} writers: {len(values)} events, p50 {statistics.median(values):.2f} s, "
              f"p99 {_percentile(values, 0.99):.2f} s, max {max(values):.2f} s")  # fmt: skip
    print(f"sealer: {sealed} events in {took:.2f} s = {sealed / took:,.0f} events/s "
          f"(log holds {total} events)")  # fmt: skip


if __name__ == "__main__":
    main()
