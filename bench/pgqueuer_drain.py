"""PgQueuer on the same machine, for the side-by-side figure in RESULTS.md: drain N no-op
jobs with P processes, timed from the moment every process is connected and ready until
every process has found the queue empty.

PgQueuer is not a dependency of Darvaza; run this from a virtualenv of its own:

    uv venv /tmp/pgq && VIRTUAL_ENV=/tmp/pgq uv pip install pgqueuer asyncpg
    createdb -h 127.0.0.1 -U postgres pgq_bench
    /tmp/pgq/bin/python bench/pgqueuer_drain.py postgresql://postgres@127.0.0.1/pgq_bench \
        --jobs 10000 --processes 2 --batch 100

It drops and reinstalls PgQueuer's tables in that database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import time
from datetime import timedelta
from multiprocessing.synchronize import Event
from typing import Any

import asyncpg  # type: ignore[import-not-found]
from pgqueuer import AsyncpgDriver, Queries, QueueManager  # type: ignore[import-not-found]
from pgqueuer.domain import types  # type: ignore[import-not-found]


async def fill(dsn: str, jobs: int) -> None:
    connection = await asyncpg.connect(dsn)
    queries = Queries(AsyncpgDriver(connection))
    with contextlib.suppress(Exception):  # nothing installed yet
        await queries.uninstall()
    await queries.install()
    for start in range(0, jobs, 1000):
        count = min(1000, jobs - start)
        await queries.enqueue(["noop"] * count, [None] * count, [0] * count)
    await connection.close()


async def drain(dsn: str, batch: int, ready: Event, go: Event) -> None:
    connection = await asyncpg.connect(dsn)
    manager = QueueManager(Queries(AsyncpgDriver(connection)))

    @manager.entrypoint("noop")
    async def noop(_job: Any) -> None:
        return None

    ready.set()
    while not go.is_set():
        await asyncio.sleep(0.001)
    await manager.run(
        batch_size=batch,
        mode=types.QueueExecutionMode.drain,
        dequeue_timeout=timedelta(seconds=0.2),
        log_aggregation_interval=timedelta(0),
    )
    await connection.close()


def process_main(dsn: str, batch: int, ready: Event, go: Event) -> None:
    asyncio.run(drain(dsn, batch, ready, go))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dsn")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(fill(args.dsn, args.jobs))
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    readies = [context.Event() for _ in range(args.processes)]
    processes = [
        context.Process(target=process_main, args=(args.dsn, args.batch, ready, go))
        for ready in readies
    ]
    for process in processes:
        process.start()
    for ready in readies:
        ready.wait()
    started = time.perf_counter()
    go.set()
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - started
    print(
        f"pgqueuer: {args.processes} process(es), batch {args.batch}: "
        f"{args.jobs / elapsed:,.0f} no-op jobs/s ({args.jobs:,} jobs)"
    )


if __name__ == "__main__":
    main()
