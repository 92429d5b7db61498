"""What the benchmarks share: a throwaway PostgreSQL database, and `pgbench` against it."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str | None]:
    """A new database on the server at `admin_url`, dropped afterwards; None when the
    server does not answer (the benchmark prints that it skipped PostgreSQL)."""
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        print(f"postgresql: skipped ({type(exc).__name__})")
        yield None
        return
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def pgbench(url: str, clients: int, seconds: int, *, script: str | None = None) -> float:
    """Transactions a second from `pgbench` on the database at `url`: its TPC-B-like
    default (scale 10, initialised here), or the SQL in `script` (a file)."""
    parts = make_url(url)
    env = {**os.environ, "PGHOST": parts.host or "127.0.0.1", "PGPORT": str(parts.port or 5432),
           "PGUSER": parts.username or "postgres"}  # fmt: skip
    database = parts.database or ""
    subprocess.run(["pgbench", "-i", "-q", "-s", "10", database], env=env, check=True,
                   capture_output=True)  # fmt: skip
    command = ["pgbench", "-c", str(clients), "-j", "2", "-T", str(seconds), "-n"]
    if script is not None:
        command += ["-f", script]
    out = subprocess.run(
        [*command, database], env=env, check=True, capture_output=True, text=True
    ).stdout
    found = re.search(r"tps = ([\d.]+)", out)
    return float(found.group(1)) if found else 0.0
