"""Every smoke check passes against `darvaza serve` (what `make run` starts) on a port set
the README's way (DARVAZA_PORT), with the first admin bootstrapped exactly as the README
says: the checks find the instance from the same settings, `smoke all` runs them all and
records each verdict as evidence on that instance."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from darvaza.revisions import REVERSIBLE, migrations
from tests.e2e.test_serve import _free_port
from tests.support.served import wait_ready


def _darvaza(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "darvaza.cli", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def _roll_back_against(base: str, token: str, *, env: dict[str, str], cwd: Path) -> None:
    """`release rollback` proves itself with the smoke checks: with nothing to undo (the
    earlier build alone) they run here and the rollback passes; after a downgrade, this
    newer build sees a pending migration and is never ready, so no check runs and the
    rollback fails, its schema change standing."""
    book = cwd / "var" / "darvaza.db"
    with sqlite3.connect(book) as connection:
        (head,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    admin = ["--admin-token", token]
    alone = _darvaza("release", "rollback", "--to", head, *admin, "--max-wait", "15",
                     env=env, cwd=cwd)  # fmt: skip
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert "no migration to undo" in alone.stdout
    assert "every smoke check passed" in alone.stdout

    back = next(m.down_revision for m in migrations() if m.revision == head)
    assert back is not None
    if next(m.kind for m in migrations() if m.revision == head) != REVERSIBLE:
        pytest.skip(f"{head} is not an expand migration: no downgrade to rehearse")
    down = _darvaza("release", "rollback", "--to", back, "--yes", *admin,
                    "--ready-timeout", "3", env=env, cwd=cwd)  # fmt: skip
    assert down.returncode == 1
    assert f"was not ready within 3 s. Start the build that expects {back}" in down.stderr
    with sqlite3.connect(book) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchone() == (back,)
        rows = connection.execute(
            "SELECT result, json_extract(details, '$.to'), json_extract(details, '$.smoke') "
            "FROM evidence WHERE kind = 'rollback' ORDER BY started_at"
        ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [("passed", head), ("failed", back)]
    assert set(json.loads(rows[0][2]).values()) == {"passed"}
    assert set(json.loads(rows[0][2])) == {
        "auth-session", "mock-payment", "idpay-callback", "content-download", "support-access",
        "incident-flow", "rbac-admin",
    }  # fmt: skip
    assert json.loads(rows[1][2]) == {}  # no check ran
    migrated = _darvaza("migrate", env=env, cwd=cwd)
    assert migrated.returncode == 0, migrated.stderr


# Four CLI processes (about 2 s of imports each), ~40 production-cost sign-ins and a 10 s
# link expiry: about 45 s alone, and more than twice that beside the other xdist worker.
# With the rollback's own smoke run, a minute and a half alone.
@pytest.mark.timeout(420)
def test_smoke_all_passes_against_a_served_instance(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARVAZA_")}
    # The matrix signs in ~40 times; without this it would wait out the per-address limit.
    env["DARVAZA_RATE_LIMIT_LOGIN_PER_IP"] = "1000/minute"
    # Two full runs (smoke all, then the rollback's) register, reset passwords and check
    # out more than one address (or the fixture's email) may in an hour by default.
    for limit in ("REGISTER_PER_IP", "PASSWORD_RESET_PER_IP", "PASSWORD_RESET_PER_EMAIL"):
        env[f"DARVAZA_RATE_LIMIT_{limit}"] = "1000/hour"
    env["DARVAZA_RATE_LIMIT_CHECKOUT_PER_IP"] = "1000/hour"
    env["DARVAZA_RATE_LIMIT_CHECKOUT_PER_USER"] = "1000/hour"
    # Short-lived download links, so content-download sees one expire.
    env["DARVAZA_DOWNLOAD_TOKEN_TTL_SECONDS"] = "10"
    env["DARVAZA_PORT"] = str(port)
    log = (tmp_path / "serve.log").open("w")  # a file: a full pipe would stall the server
    server = subprocess.Popen(
        [sys.executable, "-m", "darvaza.cli", "serve"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, server, tmp_path / "serve.log", seconds=30)

        created = _darvaza(
            "users", "create", "--email", "admin@example.com", "--role", "platform_admin",
            env={**env, "DARVAZA_PASSWORD": "correct-horse-battery-staple"}, cwd=tmp_path,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        token = _darvaza(
            "tokens", "create", "--email", "admin@example.com", "--name", "ops",
            env=env, cwd=tmp_path,
        )  # fmt: skip
        assert token.returncode == 0, token.stderr

        admin = ["--admin-token", token.stdout.strip()]
        passed = _darvaza("smoke", "all", *admin, "--max-wait", "15", env=env, cwd=tmp_path)
        assert passed.returncode == 0, passed.stdout + passed.stderr
        table = [line.split() for line in passed.stdout.splitlines()[1:8]]
        assert [(row[0], row[1]) for row in table] == [
            ("auth-session", "passed"), ("mock-payment", "passed"),
            ("idpay-callback", "passed"), ("content-download", "passed"),
            ("support-access", "passed"), ("incident-flow", "passed"),
            ("rbac-admin", "passed"),
        ]  # fmt: skip
        # Each verdict is evidence on the instance checked, with its profile and build.
        with sqlite3.connect(tmp_path / "var" / "darvaza.db") as book:
            recorded = book.execute(
                "SELECT name, result, instance_profile FROM evidence WHERE kind = 'smoke'"
            ).fetchall()
        assert sorted(recorded) == sorted((row[0], "passed", "local") for row in table)
        # The payments the checks made were sent back to this port, not the default one.
        with sqlite3.connect(tmp_path / "var" / "darvaza.db") as book:
            callbacks = {
                row[0] for row in book.execute("SELECT callback_url FROM mock_gateway_payments")
            }
        assert callbacks == {f"{base}/api/v1/payments/callback/mock"}
        verify = _darvaza("audit", "verify", env=env, cwd=tmp_path)
        assert verify.returncode == 0, verify.stderr
        _roll_back_against(base, token.stdout.strip(), env=env, cwd=tmp_path)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
    assert '"status": 500' not in (tmp_path / "serve.log").read_text()
