"""Checkout + callback throughput, and 50 concurrent identical callbacks, through the real
services with the built-in mock gateway, on SQLite and (when it answers) PostgreSQL.

    .venv/bin/python -m bench.billing [--payments N] [--postgres URL]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time

from bench.support import postgres_database
from darvaza.billing.callbacks import receive_callback
from darvaza.billing.checkout import start_checkout
from darvaza.billing.gateways import GatewayRegistry
from darvaza.billing.gateways.mock import settle_mock_payment
from darvaza.billing.plans import create_plan
from darvaza.config import Settings
from darvaza.db import Database
from darvaza.identity.accounts import create_user
from darvaza.migrate import upgrade_to_head
from darvaza.security.caller import Actor
from darvaza.tenants.service import create_tenant

SYSTEM = Actor.system("bench")


def _shop(db: Database) -> tuple[GatewayRegistry, object, object]:
    owner = create_user(
        db, SYSTEM, email="owner@example.com", password="bench-password-1", min_length=10
    )
    customer = create_user(
        db, SYSTEM, email="c@example.com", password="bench-password-1", min_length=10
    )
    tenant = create_tenant(db, SYSTEM, slug="bench", name="Bench", owner_email=owner.email)
    create_plan(
        db,
        SYSTEM,
        tenant_id=tenant.id,
        code="gold",
        name="Gold",
        price_rials=150_000,
        period_days=30,
    )
    settings = Settings(_env_file=None, database_url=db.url.render_as_string(hide_password=False))  # type: ignore[call-arg]
    return GatewayRegistry(settings, db), tenant, customer


def run(db: Database, label: str, payments: int) -> None:
    upgrade_to_head(db)
    gateways, tenant, customer = _shop(db)

    def buy() -> dict[str, str]:
        started = start_checkout(
            db,
            gateways,
            user_id=customer.id,
            email=customer.email,
            tenant_id=tenant.id,  # type: ignore[attr-defined]
            plan_code="gold",
            public_url="http://127.0.0.1:4000",
        )  # type: ignore[arg-type]
        back = settle_mock_payment(db, started.redirect_url.rsplit("/", 1)[1], pay=True)
        assert back is not None
        return back.fields

    started = time.perf_counter()
    for _ in range(payments):
        fields = buy()
        assert receive_callback(db, gateways, "mock", fields).state == "paid"
    elapsed = time.perf_counter() - started
    print(
        f"{label}: checkout + pay + callback, sequential: {payments / elapsed:.1f} payments/s "
        f"({elapsed / payments * 1000:.1f} ms each)"
    )

    timings = []
    for _ in range(5):
        fields = buy()
        barrier = threading.Barrier(50)

        def call(barrier: threading.Barrier = barrier, fields: dict[str, str] = fields) -> None:
            barrier.wait()
            receive_callback(db, gateways, "mock", fields)

        threads = [threading.Thread(target=call) for _ in range(50)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        timings.append(time.perf_counter() - started)
    print(
        f"{label}: 50 concurrent identical callbacks settle in "
        f"{statistics.median(timings) * 1000:.0f} ms (median of 5), one activation each"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=200)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{folder}/bench.db")
        run(db, "sqlite", args.payments)
        db.dispose()
    with postgres_database(args.postgres) as url:
        if url is not None:
            db = Database(url)
            try:
                run(db, "postgresql", args.payments)
            finally:
                db.dispose()


if __name__ == "__main__":
    main()
