"""The audit log on PostgreSQL: audited transactions a second with 1, 8 and 32 concurrent
writers, and how fast the sealer signs checkpoints of what they wrote.

    .venv/bin/python -m bench.audit [--seconds 10] [--events 100000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from bench.support import postgres_database
from darvaza.audit.checkpoints import AuditKeys, seal_checkpoint
from darvaza.audit.models import AuditEvent
from darvaza.audit.service import Actor, append_event
from darvaza.db import Database
from darvaza.migrate import upgrade_to_head

ACTOR = Actor.system("bench")


def writers(db: Database, count: int, seconds: float) -> float:
    """Audited transactions a second: each writer commits one event per transaction."""
    deadline = time.monotonic() + seconds
    done = [0] * count

    def write(i: int) -> None:
        while time.monotonic() < deadline:
            with db.transaction() as session:
                append_event(session, action="bench.write", actor=ACTOR, data={"writer": i})
            done[i] += 1

    threads = [threading.Thread(target=write, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / seconds


def fill(db: Database, events: int) -> None:
    batch = 5000
    for start in range(0, events, batch):
        with db.transaction() as session:
            for i in range(start, min(events, start + batch)):
                append_event(session, action="bench.fill", actor=ACTOR, data={"i": i})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    with postgres_database(args.postgres) as url, tempfile.TemporaryDirectory() as folder:
        if url is None:
            return
        db = Database(url, pool_size=40)
        upgrade_to_head(db)
        rates = {n: writers(db, n, args.seconds) for n in (1, 8, 32)}
        keys = AuditKeys.from_secret("bench-audit-key-" + "x" * 32)
        while seal_checkpoint(db, keys, Path(folder)) is not None:
            pass  # seal what the writers wrote, so the timing below is the fill alone
        fill(db, args.events)
        with db.read() as session:
            total = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
        started = time.perf_counter()
        sealed = 0
        while (batch := seal_checkpoint(db, keys, Path(folder))) is not None:
            sealed += batch.events
        took = time.perf_counter() - started
        db.dispose()
    print("audited transactions a second (PostgreSQL, one event each)")
    for count, rate in rates.items():
        print(f"  {count:2} writers: {rate:8.0f}/s  ({rate / rates[1]:.1f}x one writer)")
    print(f"sealer: {sealed} events in {took:.2f} s = {sealed / took:,.0f} events/s "
          f"(log holds {total} events)")  # fmt: skip


if __name__ == "__main__":
    main()
