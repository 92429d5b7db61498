"""Checkout to activation over HTTP against `darvaza serve` on PostgreSQL, with 16 and 64
concurrent customers, with one API process and with `--workers 2`, beside `pgbench`
(TPC-B-like write transactions) on the same server in the same run.

Each flow is what a payer's browser does with the built-in mock gateway: check out, follow
the go link, pay on the gateway's page, come back through the callback (verify, settle,
activate). A flow is five HTTP requests and about eight transactions, three of them
audited.

    .venv/bin/python -m bench.checkout_http [--seconds 20] [--workers 1,2] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.support import pgbench, postgres_database
from darvaza.billing.plans import create_plan
from darvaza.db import Database
from darvaza.identity.accounts import create_user
from darvaza.migrate import upgrade_to_head
from darvaza.security.caller import Actor
from darvaza.security.passwords import use_hasher
from darvaza.tenants.service import create_tenant

SYSTEM = Actor.system("bench")
PASSWORD = "bench-password-1"
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def prepare(url: str, customers: int) -> None:
    from argon2 import PasswordHasher

    use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))  # set-up only
    db = Database(url)
    upgrade_to_head(db)
    owner = create_user(db, SYSTEM, email="owner@example.com", password=PASSWORD, min_length=10)
    tenant = create_tenant(db, SYSTEM, slug="bench", name="Bench", owner_email=owner.email)
    create_plan(
        db, SYSTEM, tenant_id=tenant.id, code="gold", name="Gold", price_rials=150_000,
        period_days=30,
    )  # fmt: skip
    for i in range(customers):
        create_user(db, SYSTEM, email=f"c{i}@example.com", password=PASSWORD, min_length=10)
    db.dispose()


def one_flow(http: httpx.Client, token: str) -> None:
    started = http.post(
        "/api/v1/tenants/bench/checkout",
        headers={"Authorization": f"Bearer {token}"},
        json={"plan_code": "gold"},
    )
    started.raise_for_status()
    go = "/" + started.json()["redirect_url"].split("://", 1)[1].split("/", 1)[1]
    gateway = http.get(go).headers["location"]
    page = http.post("/" + gateway.split("://", 1)[1].split("/", 1)[1], data={"action": "pay"})
    back = http.post("/api/v1/payments/callback/mock", data=dict(_HIDDEN.findall(page.text)))
    if back.status_code != 303 or "result" not in back.headers.get("location", ""):
        raise RuntimeError(f"callback answered {back.status_code}")


def run_load(base: str, tokens: list[str], seconds: float) -> tuple[int, int]:
    """(flows completed, errors) with one thread per token for `seconds`."""
    deadline = time.monotonic() + seconds
    done, errors = [0] * len(tokens), [0] * len(tokens)

    def customer(i: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            while time.monotonic() < deadline:
                try:
                    one_flow(http, tokens[i])
                    done[i] += 1
                except (httpx.HTTPError, RuntimeError):
                    errors[i] += 1

    threads = [threading.Thread(target=customer, args=(i,)) for i in range(len(tokens))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done), sum(errors)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process and its API processes have used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = children.read_text().split() if children.exists() else []
    return own + sum(cpu_seconds(int(kid)) for kid in kids if Path(f"/proc/{kid}").exists())


def serve_and_load(
    url: str, folder: str, workers: int, tokens_for: int, levels: tuple[int, ...], seconds: float
) -> list[tuple[int, float, int, float]]:
    """Start `darvaza serve --workers N`, sign the customers in, load it at each level."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARVAZA_")}
    env.update(
        DARVAZA_DATABASE_URL=url, DARVAZA_LOG_LEVEL="warning",
        DARVAZA_WORKER_IN_PROCESS="false", DARVAZA_DATABASE_POOL_SIZE="20",
        DARVAZA_RATE_LIMIT_LOGIN_PER_IP="100000/minute",
        DARVAZA_RATE_LIMIT_CHECKOUT_PER_USER="100000/minute",
        DARVAZA_RATE_LIMIT_CHECKOUT_PER_IP="100000/minute",
        DARVAZA_RATE_LIMIT_CALLBACK_PER_IP="100000/minute",
        DARVAZA_STORAGE_DIR=str(Path(folder) / "storage"),
    )  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "darvaza.cli", "serve", "--port", str(port),
         "--workers", str(workers)],
        env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        time.sleep(2)  # every API process up
        with httpx.Client(base_url=base, timeout=30) as http:
            tokens = [
                http.post(
                    "/api/v1/auth/login",
                    json={"email": f"c{i}@example.com", "password": PASSWORD},
                ).json()["token"]
                for i in range(tokens_for)
            ]
        results = []
        for level in levels:
            busy = cpu_seconds(server.pid)
            flows, errors = run_load(base, tokens[:level], seconds)
            busy = (cpu_seconds(server.pid) - busy) / seconds
            results.append((level, flows / seconds, errors, busy))
        return results
    finally:
        server.terminate()
        server.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument(
        "--workers", type=lambda text: [int(n) for n in text.split(",")], default=[1, 2]
    )
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    if shutil.which("pgbench") is None:
        sys.exit("pgbench is not installed (Debian: postgresql-client)")
    levels = (16, 64)
    with postgres_database(args.postgres) as url, tempfile.TemporaryDirectory() as folder:
        if url is None:
            return
        prepare(url, max(levels))
        results = {
            workers: serve_and_load(url, folder, workers, max(levels), levels, args.seconds)
            for workers in args.workers
        }
        tps = {level: pgbench(url, level, int(args.seconds)) for level in levels}
    print("checkout to activation over HTTP (darvaza serve, PostgreSQL)")
    for workers, rows in results.items():
        for level, rate, errors, busy in rows:
            print(f"  --workers {workers}, {level:3} customers: {rate:7.1f} flows/s ({errors} "
                  f"errors), API processes {busy:.0%} of a core; pgbench -c {level}: "
                  f"{tps[level]:8.0f} tps")  # fmt: skip


if __name__ == "__main__":
    main()
