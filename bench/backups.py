"""Restore points of a big instance, on SQLite and on PostgreSQL: 100,000 payments (a
payment event each), 200,000 audit events (sealed) and 1 GiB of content files in 100
items (random bytes: media and PDFs barely compress). Measured, each through the real
command in a process of its own (wall time and the process's peak memory):

- `darvaza backup create` stored as is, compressed (zstd, the default), and compressed
  and encrypted (age), with the stored size;
- the yardstick, in the same run: the database copied the plain way (`pg_dump -Fc` of the
  schema; SQLite's backup API in one step) followed by `tar cf` of the storage folder;
- `darvaza backup verify` (the stored parts' checksums) and `verify --deep` (restored into
  a scratch target and checked: row counts, audit chain, every file);
- `darvaza backup restore` into an empty target;
- with `--drill`, `darvaza drill restore` of the encrypted point: its RTO.

    .venv/bin/python -m bench.backups [--payments 100000] [--audit 200000] [--megabytes 1024]
        [--engines sqlite,postgresql] [--drill]
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from bench.ops import _seed_audit
from bench.support import postgres_database
from darvaza.billing.models import Payment, PaymentEvent
from darvaza.billing.plans import create_plan
from darvaza.clock import utcnow
from darvaza.config import Settings
from darvaza.content.items import create_item
from darvaza.content.storage import CHUNK, LocalStorage
from darvaza.db import Database
from darvaza.identity.accounts import create_user
from darvaza.migrate import upgrade_to_head
from darvaza.operations.sealing import new_identity
from darvaza.security.caller import Actor
from darvaza.security.passwords import use_hasher
from darvaza.tenants.service import create_tenant

SYSTEM = Actor.system("bench")
FILES = 100
BATCH = 10_000


def _seed_payments(db: Database, payments: int) -> None:
    """One tenant, plan and payer; the payments and their events in batches."""
    owner = create_user(db, SYSTEM, email="owner@example.com", password="bench-password-1",
                        min_length=10)  # fmt: skip
    tenant = create_tenant(db, SYSTEM, slug="bench", name="Bench", owner_email=owner.email)
    plan = create_plan(db, SYSTEM, tenant_id=tenant.id, code="gold", name="Gold",
                       price_rials=150_000, period_days=30)  # fmt: skip
    now = utcnow()
    for start in range(0, payments, BATCH):
        rows, events = [], []
        for n in range(start, min(payments, start + BATCH)):
            at = now - timedelta(minutes=n)
            payment_id = uuid.uuid4()
            rows.append({
                "id": payment_id, "order_id": f"dz-bench-{n}", "tenant_id": tenant.id,
                "user_id": owner.id, "plan_id": plan.id, "amount_rials": 150_000,
                "period_days": 30, "gateway": "idpay" if n % 3 == 0 else "zarinpal",
                "state": "paid", "gateway_payment_id": f"gw-{n}", "created_at": at,
                "updated_at": at, "paid_at": at,
            })  # fmt: skip
            events.append({"payment_id": payment_id, "occurred_at": at, "kind": "paid",
                           "message": "The gateway confirmed it.", "data": {}})  # fmt: skip
        with db.transaction() as session:
            session.execute(insert(Payment), rows)
            session.execute(insert(PaymentEvent), events)


def _seed_files(db: Database, settings: Settings, megabytes: int) -> None:
    storage = LocalStorage(settings.storage_dir)
    with db.read() as session:
        tenant_id = session.execute(text("SELECT id FROM tenants")).scalar_one()
    tenant_id = uuid.UUID(str(tenant_id))
    each = max(1, megabytes // FILES)
    for n in range(FILES):
        stored = storage.write((os.urandom(CHUNK) for _ in range(each)), max_bytes=each * CHUNK)
        create_item(
            db, storage, SYSTEM, tenant_id=tenant_id, title=f"Item {n}", description="",
            unlocked_by="any_plan", plan_codes=[], stored=stored, filename=f"f{n}.bin",
            content_type="application/octet-stream",
        )  # fmt: skip


@dataclass(frozen=True)
class Timed:
    seconds: float
    peak_mib: float
    output: str


def _run(command: list[str], env: dict[str, str]) -> Timed:
    """A command in a process of its own: its wall time and its peak resident memory (by
    GNU time: a child forked from this big process would report this one's)."""
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "peak_kib=%M", *command], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} failed:\n{done.stdout[-2000:]}")
    peak = re.findall(r"peak_kib=(\d+)", done.stdout)
    return Timed(seconds, int(peak[-1]) / 1024 if peak else 0.0, done.stdout)


def _darvaza(*args: str) -> list[str]:
    return [sys.executable, "-m", "darvaza.cli", *args]


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@contextmanager
def _target(engine: str, url: str, folder: Path) -> Iterator[str]:
    """An empty database to restore into."""
    if engine == "sqlite":
        yield f"sqlite:///{folder / 'restored.sqlite3'}"
        return
    live = make_url(url)
    name = f"{live.database}_restored"
    yield live.set(database=name).render_as_string(hide_password=False)
    admin = Database(live.set(database="postgres"))
    with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _yardstick(engine: str, url: str, storage: Path, out: Path, env: dict[str, str]) -> Timed:
    """The plain way: the database's own copy, then tar of the files."""
    out.mkdir()
    started = time.perf_counter()
    if engine == "sqlite":
        source = make_url(url).database or ""
        with closing(sqlite3.connect(source)) as live, closing(sqlite3.connect(out / "db")) as copy:
            live.backup(copy)
        database_peak = 0.0
    else:
        parts = make_url(url)
        tool_env = {**env, "PGHOST": parts.host or "127.0.0.1", "PGPORT": str(parts.port or 5432),
                    "PGUSER": parts.username or "postgres"}  # fmt: skip
        dumped = _run(["pg_dump", "--format=custom", "--schema=public", f"--file={out / 'db'}",
                       parts.database or ""], tool_env)  # fmt: skip
        database_peak = dumped.peak_mib
    archived = _run(["tar", "cf", str(out / "files.tar"), "-C", str(storage), "."], env)
    return Timed(time.perf_counter() - started, max(database_peak, archived.peak_mib), "")


def _engine_run(engine: str, url: str, args: argparse.Namespace, folder: Path) -> None:
    identity, recipient = new_identity()
    key = folder / "backup.key"
    key.write_text(identity + "\n")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=url, storage_dir=str(folder / "storage"),
        audit_checkpoint_dir=str(folder / "checkpoints"), backup_dir=str(folder / "backups"),
        log_level="warning",
    )  # fmt: skip
    db = Database(url)
    upgrade_to_head(db)
    started = time.monotonic()
    _seed_payments(db, args.payments)
    _seed_audit(db, args.audit, settings)
    _seed_files(db, settings, args.megabytes)
    if engine == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM (ANALYZE)"))
            connection.execute(text("CHECKPOINT"))
    db.dispose()
    plain_db = Path(make_url(url).database or "").stat().st_size if engine == "sqlite" else 0
    at = time.perf_counter()
    _run(_darvaza("--help"), os.environ.copy())
    print(f"\n(starting the darvaza command and leaving: {time.perf_counter() - at:.1f} s)")
    print(f"\n{engine}: seeded {args.payments:,} payments (and events), {args.audit:,} audit "
          f"events, {_size(folder / 'storage') / 2**20:,.0f} MiB of files in "
          f"{time.monotonic() - started:.0f} s")  # fmt: skip

    env = {k: v for k, v in os.environ.items() if not k.startswith("DARVAZA_")}
    env.update(
        DARVAZA_DATABASE_URL=url, DARVAZA_STORAGE_DIR=settings.storage_dir,
        DARVAZA_AUDIT_CHECKPOINT_DIR=settings.audit_checkpoint_dir,
        DARVAZA_BACKUP_DIR=settings.backup_dir, DARVAZA_LOG_LEVEL="warning",
        DARVAZA_PORT="4999",
    )  # fmt: skip
    yard = _yardstick(engine, url, folder / "storage", folder / "yardstick", env)
    yard_size = _size(folder / "yardstick")
    print(f"  {'yardstick (database copy + tar)':38} {yard.seconds:7.1f} s  "
          f"{yard_size / 2**20:8,.0f} MiB  peak {yard.peak_mib:6.0f} MiB")  # fmt: skip
    if plain_db:
        print(f"  (the SQLite file itself: {plain_db / 2**20:,.0f} MiB)")

    variants = {
        "backup create, stored as is": {"DARVAZA_BACKUP_COMPRESSION": "none"},
        "backup create, zstd": {"DARVAZA_BACKUP_COMPRESSION": "zstd"},
        "backup create, zstd + age": {"DARVAZA_BACKUP_COMPRESSION": "zstd",
                                      "DARVAZA_BACKUP_AGE_RECIPIENTS": recipient},
    }  # fmt: skip
    point_id = ""
    for name, more in variants.items():
        made = _run(_darvaza("backup", "create", "--label", "bench"), {**env, **more})
        found = re.search(r"Restore point (\S+): .* in ([\d.]+) s", made.output)
        point_id, own = (found.group(1), float(found.group(2))) if found else ("", 0.0)
        stored = _size(folder / "backups" / point_id)
        print(
            f"  {name:38} {made.seconds:7.1f} s  {stored / 2**20:8,.0f} MiB  "
            f"peak {made.peak_mib:6.0f} MiB  (its own work {own:.1f} s: "
            f"{own / yard.seconds:.2f}x the yardstick)"
        )
    sealed = {**env, "DARVAZA_BACKUP_AGE_RECIPIENTS": recipient}
    deep = ["--deep", "--identity-file", str(key)]
    for name, extra in (("backup verify (parts)", []), ("backup verify --deep", deep)):
        checked = _run(_darvaza("backup", "verify", point_id, *extra), sealed)
        print(f"  {name:38} {checked.seconds:7.1f} s  {'':8}      peak {checked.peak_mib:6.0f} MiB")
    with _target(engine, url, folder) as target:
        restored = _run(
            _darvaza("backup", "restore", point_id, "--database", target, "--storage",
                     str(folder / "restored-files"), "--yes", "--identity-file", str(key)),
            sealed,
        )  # fmt: skip
    print(f"  {'backup restore (into an empty target)':38} {restored.seconds:7.1f} s  "
          f"{'':8}      peak {restored.peak_mib:6.0f} MiB")  # fmt: skip
    if args.drill:
        drilled = _run(
            _darvaza("drill", "restore", "--backup", point_id, "--identity-file", str(key)),
            sealed,
        )
        rto = re.search(r"RTO ([\d.]+) s", drilled.output)
        print(f"  {'drill restore':38} {drilled.seconds:7.1f} s  RTO "
              f"{rto.group(1) if rto else '?'} s  peak {drilled.peak_mib:6.0f} MiB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--audit", type=int, default=200_000)
    parser.add_argument("--megabytes", type=int, default=1024)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--drill", action="store_true")
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    from argon2 import PasswordHasher

    use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))  # set-up only
    engines = args.engines.split(",")
    if "sqlite" in engines:
        with tempfile.TemporaryDirectory(prefix="bench-backups-") as name:
            folder = Path(name)
            _engine_run("sqlite", f"sqlite:///{folder / 'darvaza.sqlite3'}", args, folder)
    if "postgresql" in engines:
        with (
            postgres_database(args.postgres) as url,
            tempfile.TemporaryDirectory(prefix="bench-backups-") as name,
        ):
            if url is not None:
                _engine_run("postgresql", url, args, Path(name))


if __name__ == "__main__":
    main()
