"""Readiness and exports at size (`.venv/bin/python -m bench.readiness`), on PostgreSQL.

1. The readiness report on a database holding 100,000 evidence records (most from other
   instances, as a long-lived shared database would), median of 20 reports; the
   yardstick is the same newest-record lookups as plain SQL, without the report around
   them (the floor any report of these rules pays).
2. A CSV export of 1,000,000 payments through the real job code, in a child process
   whose peak resident memory (VmHWM) is read from /proc; then the same at 1,000 payments
   (memory must not grow with the rows). The yardstick is `psql`'s COPY of the same rows
   to CSV, timed, with its peak memory the same way.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.support import postgres_database

EVIDENCE_SQL = """
INSERT INTO evidence (id, kind, name, result, details, started_at, finished_at, recorded_at,
                      version, revision, migration_head, instance_profile, instance_name,
                      recorded_by_type)
SELECT gen_random_uuid(),
       (ARRAY['smoke','backup','backup_verify','restore_drill','config_check',
              'migration_check','release_dry_run','alert_test','incident_drill',
              'audit_export'])[g % 10 + 1],
       (ARRAY['auth-session','restore_point','deep','restore','settings','schema',
              'schema','everything','incident','bundle'])[g % 10 + 1],
       CASE WHEN g % 7 = 0 THEN 'failed' ELSE 'passed' END, '{}',
       now() - g * interval '1 minute', now() - g * interval '1 minute',
       now() - g * interval '1 minute', '0.1.0', 'abc', '0020',
       CASE WHEN g % 3 = 0 THEN 'staging' ELSE 'production' END,
       CASE WHEN g % 100 = 0 THEN 'bench-1' ELSE 'other-' || (g % 40) END, 'system'
FROM generate_series(1, :count) g
"""

PAYMENTS_SQL = """
WITH t AS (INSERT INTO tenants (id, slug, name, created_at, synthetic)
           VALUES (gen_random_uuid(), 'bench', 'Bench', now(), false) RETURNING id),
     p AS (INSERT INTO plans (id, tenant_id, code, name, price_rials, period_days, active,
                              created_at, updated_at)
           SELECT gen_random_uuid(), id, 'gold', 'Gold', 150000, 30, true, now(), now() FROM t
           RETURNING id, tenant_id),
     u AS (INSERT INTO users (id, email, password_hash, created_at, password_changed_at)
           VALUES (gen_random_uuid(), 'payer@example.com', 'x', now(), now()) RETURNING id)
INSERT INTO payments (id, order_id, tenant_id, user_id, plan_id, amount_rials, period_days,
                      gateway, state, card_number_masked, created_at, updated_at, paid_at)
SELECT gen_random_uuid(), 'dz-bench-' || g, p.tenant_id, u.id, p.id, 150000, 30, 'zarinpal',
       'paid', '6037-99**-****-1234', now() - g * interval '1 second', now(), now()
FROM generate_series(1, :count) g, p, u
"""

CHILD = """
import sys, time, uuid
from darvaza.config import load_settings
from darvaza.db import Database
from darvaza.exports.service import produce_export
settings = load_settings()
db = Database(settings.database_url)
started = time.perf_counter()
state = produce_export(db, settings, uuid.UUID(sys.argv[1]))
seconds = time.perf_counter() - started
peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]
print(state, f"{seconds:.2f}", peak)
"""


def _report_times(url: str, runs: int) -> tuple[list[float], list[float]]:
    from darvaza.assembly import CHECKS
    from darvaza.config import load_settings
    from darvaza.db import Database
    from darvaza.ops.alert_routes import load_alert_routes
    from darvaza.readiness.proofs import PROOFS
    from darvaza.readiness.service import readiness_report

    settings = load_settings(instance_name="bench-1", profile="production")
    db = Database(url)
    routes = load_alert_routes(settings)
    reports = []
    for _ in range(runs):
        started = time.perf_counter()
        readiness_report(db, settings, CHECKS, routes)
        reports.append(time.perf_counter() - started)
    # The yardstick: each rule's newest-record lookup, and nothing else.
    lookups = [(rule.kind, name) for p in PROOFS for rule in p.evidence
               for name in (rule.names(None) if rule.kind != "alert_test" else ("x",))]  # type: ignore[arg-type]  # fmt: skip
    plain = []
    with db.engine.connect() as connection:
        for _ in range(runs):
            started = time.perf_counter()
            for kind, name in lookups:
                connection.execute(text(
                    "SELECT * FROM evidence WHERE kind = :k AND name = :n AND instance_name = "
                    "'bench-1' AND instance_profile = 'production' "
                    "ORDER BY recorded_at DESC LIMIT 1"
                ), {"k": kind, "n": name}).all()  # fmt: skip
            plain.append(time.perf_counter() - started)
    db.dispose()
    return reports, plain


def _export(url: str, folder: Path, count: int) -> tuple[float, int, int]:
    """(seconds, rows, peak kB) of one payments export of the tenant's rows."""
    from darvaza.db import Database

    db = Database(url)
    export_id = uuid.uuid4()
    with db.engine.begin() as connection:
        tenant, user = connection.execute(text(
            "SELECT tenant_id, user_id FROM payments LIMIT 1")).one()  # fmt: skip
        # The newest `count` payments: from the count-th newest on.
        since = connection.execute(text(
            "SELECT created_at FROM payments ORDER BY created_at DESC OFFSET :n LIMIT 1"
        ), {"n": count - 1}).scalar_one()  # fmt: skip
        connection.execute(text(
            "INSERT INTO exports (id, dataset, tenant_id, requested_by, state, created_at, "
            "since) VALUES (:id, 'payments', :t, :u, 'queued', now(), :since)"
        ), {"id": export_id, "t": tenant, "u": user, "since": since})  # fmt: skip
    db.dispose()
    env = {**os.environ, "DARVAZA_DATABASE_URL": url, "DARVAZA_EXPORT_DIR": str(folder)}
    out = subprocess.run([sys.executable, "-c", CHILD, str(export_id)], env=env, check=True,
                         capture_output=True, text=True).stdout.split()  # fmt: skip
    rows = sum(1 for _ in (folder / f"{export_id}.csv").open()) - 1
    return float(out[1]), rows, int(out[2])


def _copy_yardstick(url: str, folder: Path) -> tuple[float, int]:
    parts = make_url(url)
    target = folder / "copy.csv"
    query = (
        "\\copy (SELECT p.id, p.order_id, p.created_at, p.paid_at, p.state, p.amount_rials, "
        "pl.code, u.email, p.gateway, p.gateway_reference, p.card_number_masked FROM payments p "
        "JOIN plans pl ON pl.id = p.plan_id JOIN users u ON u.id = p.user_id "
        f"ORDER BY p.created_at, p.id) TO '{target}' WITH CSV HEADER"
    )
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", "psql", "-q", "-h", parts.host or "127.0.0.1", "-U",
         parts.username or "postgres", "-d", parts.database or "", "-c", query],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return time.perf_counter() - started, int(done.stderr.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--evidence", type=int, default=100_000)
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    from darvaza.db import Database
    from darvaza.migrate import upgrade_to_head

    with postgres_database(args.postgres) as url, tempfile.TemporaryDirectory() as tmp:
        if url is None:
            return
        os.environ["DARVAZA_DATABASE_URL"] = url
        db = Database(url)
        upgrade_to_head(db)
        started = time.monotonic()
        with db.engine.begin() as connection:
            connection.execute(text(EVIDENCE_SQL), {"count": args.evidence})
            connection.execute(text(PAYMENTS_SQL), {"count": args.payments})
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM (ANALYZE)"))
        db.dispose()
        print(f"seeded {args.evidence:,} evidence records and {args.payments:,} payments "
              f"in {time.monotonic() - started:.0f} s")  # fmt: skip

        reports, plain = _report_times(url, args.runs)
        print(f"readiness report: median {statistics.median(reports) * 1000:.1f} ms, "
              f"max {max(reports) * 1000:.1f} ms ({args.runs} runs); "
              f"yardstick, the rules' lookups as plain SQL: median "
              f"{statistics.median(plain) * 1000:.1f} ms")  # fmt: skip

        folder = Path(tmp)
        for count in (args.payments, 1000):
            seconds, rows, peak = _export(url, folder, count)
            print(f"export of {rows:,} payments: {seconds:.1f} s, {rows / seconds:,.0f} rows/s, "
                  f"peak resident {peak / 1024:.0f} MiB")  # fmt: skip
        seconds, peak = _copy_yardstick(url, folder)
        print(f"yardstick, psql \\copy of the same {args.payments:,} rows to CSV: {seconds:.1f} s, "
              f"psql's peak resident {peak / 1024:.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
