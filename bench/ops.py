"""The ops summary and the checks on a big platform, on PostgreSQL: 1,000,000 payments
(and a payment event each), 1,000,000 jobs, 200,000 audit events (sealed) and 100,000
subscriptions, with a few hundred of them in states the checks find. Measured:

- one full check run (every check, as `darvaza ops check` runs them), and each check;
- the summary's answer time over HTTP from `darvaza serve` (p50, p99 over 100 calls), and
  the same in-process (the service and the JSON, without HTTP);
- the yardstick, in the same run: `pgbench` running the summary's own queries (the
  unresolved findings and the check runs) with one client, so the distance between the
  database's time and the answer's is what Darvaza adds.

    .venv/bin/python -m bench.ops [--payments 1000000] [--jobs 1000000] [--audit 200000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from bench.checkout_http import free_port
from bench.support import pgbench, postgres_database
from darvaza.assembly import CHECKS, assemble
from darvaza.audit.checkpoints import AuditKeys, CheckpointFolder, seal_all
from darvaza.audit.models import AuditEvent
from darvaza.audit.service import content_hash
from darvaza.cli.serve import freeze_startup_heap
from darvaza.clock import utcnow
from darvaza.config import Settings, load_settings
from darvaza.db import Database
from darvaza.identity.accounts import create_user
from darvaza.identity.api_tokens import create_api_token
from darvaza.migrate import upgrade_to_head
from darvaza.ops.schemas import SummaryOut
from darvaza.ops.service import ops_summary, run_checks
from darvaza.security.caller import Actor
from darvaza.security.passwords import use_hasher
from darvaza.security.roles import PlatformRole

SYSTEM = Actor.system("bench")
TENANTS = 50
MISMATCHED = 200  # payments in `mismatch`: one finding each
STALE = 100  # payments left pending past the reconcile window: one finding per gateway
DEAD = 300  # dead jobs over three kinds: one finding per kind


def _seed_sql(db: Database, payments: int, jobs: int, subscriptions: int) -> None:
    """Set-based inserts: tenants, plans and users first, then the big tables."""
    statements = [
        f"""INSERT INTO tenants (id, slug, name, created_at, synthetic)
            SELECT gen_random_uuid(), 'bench-' || n, 'Bench ' || n, now(), false
            FROM generate_series(1, {TENANTS}) n""",
        """INSERT INTO plans (id, tenant_id, code, name, price_rials, period_days, active,
                              created_at, updated_at)
           SELECT gen_random_uuid(), id, 'gold', 'Gold', 150000, 30, true, now(), now()
           FROM tenants""",
        """INSERT INTO users (id, email, password_hash, created_at, password_changed_at)
           SELECT gen_random_uuid(), 'bench-' || n || '@example.com', 'x', now(), now()
           FROM generate_series(1, 10000) n""",
        "CREATE TEMP TABLE t AS SELECT row_number() OVER () AS n, id FROM tenants",
        "CREATE TEMP TABLE p AS SELECT tenant_id, id FROM plans",
        "CREATE TEMP TABLE u AS SELECT row_number() OVER () AS n, id FROM users",
        # Payments over the last 90 days: paid mostly, some failed, the seeded few in
        # mismatch and left pending long ago.
        f"""INSERT INTO payments (id, order_id, tenant_id, user_id, plan_id, amount_rials,
                                  period_days, gateway, state, created_at, updated_at, paid_at)
            SELECT gen_random_uuid(), 'dz-bench-' || g, t.id, u.id, p.id, 150000, 30,
                   CASE WHEN g % 3 = 0 THEN 'idpay' ELSE 'zarinpal' END,
                   CASE WHEN g <= {MISMATCHED} THEN 'mismatch'
                        WHEN g <= {MISMATCHED + STALE} THEN 'pending'
                        WHEN g % 10 = 0 THEN 'failed' ELSE 'paid' END,
                   now() - (g % 129600) * interval '1 minute' - interval '1 hour',
                   now() - (g % 129600) * interval '1 minute' - interval '1 hour',
                   CASE WHEN g % 10 <> 0 THEN now() - (g % 129600) * interval '1 minute' END
            FROM generate_series(1, {payments}) g
            JOIN t ON t.n = g % {TENANTS} + 1
            JOIN p ON p.tenant_id = t.id
            JOIN u ON u.n = g % 10000 + 1""",
        """INSERT INTO payment_events (payment_id, occurred_at, kind, message, data)
           SELECT id, created_at, 'paid', 'The gateway confirmed the payment.', '{}'
           FROM payments""",
        # Jobs: finished over the last week mostly, the seeded dead ones, a few queued.
        f"""INSERT INTO jobs (kind, queue, payload, priority, state, attempts, max_attempts,
                              run_at, created_at, updated_at, finished_at)
            SELECT CASE g % 4 WHEN 0 THEN 'mail.send' WHEN 1 THEN 'payments.reconcile'
                              WHEN 2 THEN 'downloads.cleanup' ELSE 'subscriptions.expire' END,
                   'default', '{{}}', 0,
                   CASE WHEN g <= {DEAD} THEN 'dead' WHEN g <= {DEAD + 50} THEN 'queued'
                        ELSE 'succeeded' END,
                   1, 5,
                   now() - (g % 10080) * interval '1 minute' + CASE WHEN g > {DEAD}
                     AND g <= {DEAD + 50} THEN interval '2 hours' ELSE interval '0' END,
                   now() - (g % 10080) * interval '1 minute',
                   now() - (g % 10080) * interval '1 minute',
                   CASE WHEN g > {DEAD + 50} OR g <= {DEAD}
                        THEN now() - (g % 10080) * interval '1 minute' END
            FROM generate_series(1, {jobs}) g""",
        f"""INSERT INTO subscriptions (id, tenant_id, user_id, plan_id, state, started_at,
                                       current_period_end, cancel_at_period_end, created_at,
                                       updated_at)
            SELECT gen_random_uuid(), t.id, u.id, p.id,
                   CASE WHEN g % 5 = 0 THEN 'expired' ELSE 'active' END,
                   now() - interval '10 days', now() + (g % 60) * interval '1 day',
                   false, now(), now()
            FROM generate_series(1, {subscriptions}) g
            JOIN t ON t.n = g % {TENANTS} + 1
            JOIN p ON p.tenant_id = t.id
            JOIN u ON u.n = g % 10000 + 1
            ON CONFLICT DO NOTHING""",
    ]
    with db.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    # As a settled database is: without this, autovacuum works through the new rows while
    # the answers are timed, and its pauses are what the tail measures.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM (ANALYZE)"))
        connection.execute(text("CHECKPOINT"))  # the writes flushed before any timing


def _seed_audit(db: Database, events: int, settings: Settings) -> None:
    """Events as writers make them (each with its content hash), then sealed with the
    deployment's keys, as its sealer would."""
    now = utcnow()
    batch = 10_000
    for start in range(0, events, batch):
        rows = []
        for n in range(start, min(events, start + batch)):
            event = AuditEvent(
                occurred_at=now, actor_type="system", actor_id="bench", actor_role=None,
                tenant_id=None, action="payment.paid", target_type="payment",
                target_id=f"dz-bench-{n}", ip=None, request_id=None, reason=None,
                data={"n": n},
            )  # fmt: skip
            event.content_hash = content_hash(event)
            rows.append(event)
        with db.transaction() as session:
            session.add_all(rows)
    keys = AuditKeys.from_secret(settings.effective_audit_key)
    seal_all(db, keys, CheckpointFolder(Path(settings.audit_checkpoint_dir)))


def _summary_over_http(url: str, folder: str, token: str, calls: int) -> list[float]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARVAZA_")}
    env.update(
        DARVAZA_DATABASE_URL=url, DARVAZA_LOG_LEVEL="warning",
        DARVAZA_WORKER_IN_PROCESS="false", DARVAZA_STORAGE_DIR=str(Path(folder) / "storage"),
    )  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "darvaza.cli", "serve", "--port", str(port)], env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, timeout=30, headers=headers) as http:
            for _ in range(10):  # warm: connections, caches
                http.get("/api/v1/admin/ops/summary").raise_for_status()
            times = []
            for _ in range(calls):
                started = time.perf_counter()
                http.get("/api/v1/admin/ops/summary").raise_for_status()
                times.append(time.perf_counter() - started)
        return times
    finally:
        server.terminate()
        server.wait(timeout=30)


def _time_summary(
    db: Database, settings: Settings, url: str, folder: str, token: str, calls: int
) -> None:
    summary = ops_summary(db, settings, CHECKS)
    print(f"summary: {summary.status}, {len(summary.findings)} unresolved findings")
    freeze_startup_heap()  # as `darvaza serve` does: the set-up's heap out of the collector
    in_process = []
    for _ in range(calls):
        started = time.perf_counter()
        SummaryOut.of(ops_summary(db, settings, CHECKS)).model_dump_json()
        in_process.append(time.perf_counter() - started)
    over_http = _summary_over_http(url, folder, token, calls)
    for name, times in (("in-process", in_process), ("over HTTP", over_http)):
        p50, p99 = _percentile(times, 0.5) * 1000, _percentile(times, 0.99) * 1000
        mean = statistics.fmean(times) * 1000
        print(f"  {name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, mean {mean:.1f} ms "
              f"over {len(times)} calls")  # fmt: skip


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--audit", type=int, default=200_000)
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    from argon2 import PasswordHasher

    use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))  # set-up only
    with postgres_database(args.postgres) as url, tempfile.TemporaryDirectory() as folder:
        if url is None:
            return
        os.environ["DARVAZA_DATABASE_URL"] = url
        os.environ["DARVAZA_STORAGE_DIR"] = str(Path(folder) / "storage")
        os.environ["DARVAZA_AUDIT_CHECKPOINT_DIR"] = str(Path(folder) / "checkpoints")
        settings = load_settings()
        db = Database(url)
        upgrade_to_head(db)
        started = time.monotonic()
        _seed_sql(db, args.payments, args.jobs, args.subscriptions)
        _seed_audit(db, args.audit, settings)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM (ANALYZE) audit_events, audit_seals"))
            connection.execute(text("CHECKPOINT"))
        print(f"seeded {args.payments:,} payments (and events), {args.jobs:,} jobs, "
              f"{args.audit:,} audit events, {args.subscriptions:,} subscriptions "
              f"in {time.monotonic() - started:.0f} s")  # fmt: skip

        parts = assemble(settings, db)
        runs = []
        for _ in range(3):  # the first run opens the findings; later ones update them
            started = time.perf_counter()
            reports = run_checks(parts, list(CHECKS))
            runs.append(time.perf_counter() - started)
        errors = [report.code for report in reports if report.error]
        print(
            f"full check run: {', '.join(f'{s * 1000:.0f} ms' for s in runs)} "
            f"(first, second, third){'; errors: ' + ', '.join(errors) if errors else ''}"
        )
        slowest = sorted(reports, key=lambda report: report.seconds, reverse=True)
        for report in slowest[:6]:
            print(f"  {report.code:<32} {report.seconds * 1000:8.1f} ms  saw {report.observed}")
        rest = sum(r.seconds for r in reports if r.code != "audit.chain_broken")
        print(f"  every check but audit.chain_broken: {rest * 1000:.0f} ms")

        admin = create_user(
            db, SYSTEM, email="admin@example.com", password="bench-password-1",
            min_length=10, platform_role=PlatformRole.PLATFORM_ADMIN,
        )  # fmt: skip
        token = create_api_token(
            db, SYSTEM, email=admin.email, name="bench", expires_in_days=None, max_days=90
        ).token
        _time_summary(db, settings, url, folder, token, args.calls)
        # The summary's work grows with the unresolved findings, not with the tables: the
        # same again once the mismatched payments are put right and their findings resolve.
        with db.engine.begin() as connection:
            connection.execute(text("UPDATE payments SET state = 'paid' WHERE state = 'mismatch'"))
        run_checks(parts, list(CHECKS))
        _time_summary(db, settings, url, folder, token, args.calls)

        script = Path(folder) / "summary.sql"
        script.write_text(
            "SELECT * FROM ops_findings WHERE state IN ('open', 'acknowledged');\n"
            "SELECT * FROM ops_check_runs;\n"
        )
        tps = pgbench(url, 1, 10, script=str(script))
        print(
            f"pgbench, the summary's two queries, 1 client: {tps:,.0f}/s ({1000 / tps:.2f} ms each)"
            if tps
            else "pgbench: no answer"
        )
        db.dispose()


if __name__ == "__main__":
    main()
