"""The go-live path end to end, on a fresh staging instance deployed the way docs/deploy
says: `darvaza serve` behind Debian's nginx running the shipped site (TLS, X-Accel
downloads, the forwarded address), a `darvaza worker`, mail through a real SMTP server,
and the shipped example alert routes sending to a real webhook receiver and that server.

Before anything ran, `darvaza readiness` says NOT_READY and names every missing proof with
the command that produces it. Then the go-live runbook's commands run for real, one by
one (the release dry-run with the earlier build serving the downgraded copy, its steps
checked); afterwards it says READY and exits 0, and the API says the same through nginx.
Last, `release rollback` proves itself with the smoke checks against the same instance."""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import signal
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from darvaza.operations.smoke.all import CHECK_NAMES
from darvaza.readiness.proofs import PROOF_KEYS
from darvaza.revisions import REVERSIBLE, head_revisions, migrations
from tests.support import nginx
from tests.support.backups import earlier_build
from tests.support.live_server import free_port
from tests.support.mail import Inbox
from tests.support.receiver import Receiver, webhook_receiver
from tests.support.served import wait_ready

ALERTS = Path(__file__).resolve().parents[2] / "docs" / "monitoring" / "alerts.example.yaml"


def _darvaza(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "darvaza.cli", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def _ran(*args: str, env: dict[str, str], cwd: Path) -> str:
    started = time.monotonic()
    done = _darvaza(*args, env=env, cwd=cwd)
    print(f"{time.monotonic() - started:6.1f} s  darvaza {' '.join(args[:3])}")  # on failure
    assert done.returncode == 0, f"darvaza {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout


@contextmanager
def _smtp() -> Iterator[tuple[Inbox, int]]:
    from aiosmtpd.controller import Controller

    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _staging_env(tmp_path: Path, *, app_port: int, https_port: int, cert: Path,
                 receiver: Receiver, smtp_port: int) -> dict[str, str]:  # fmt: skip
    """The environment file of a staging host, filled in for this one."""
    routes = tmp_path / "alerts.yaml"
    routes.write_text(
        ALERTS.read_text(encoding="utf-8").replace(
            "https://alerts.example.com/hooks/darvaza", receiver.url
        ),
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARVAZA_")}
    env.update(
        DARVAZA_PROFILE="staging", DARVAZA_INSTANCE_NAME="staging-1",
        DARVAZA_REVISION="e2e" + secrets.token_hex(8),
        DARVAZA_SECRET_KEY=secrets.token_urlsafe(48), DARVAZA_AUDIT_KEY=secrets.token_urlsafe(48),
        DARVAZA_METRICS_TOKEN=secrets.token_urlsafe(24),
        DARVAZA_PUBLIC_URL=f"https://127.0.0.1:{https_port}",
        DARVAZA_FORWARDED_ALLOW_IPS="127.0.0.1", DARVAZA_PORT=str(app_port),
        DARVAZA_STORAGE_DIR=str(tmp_path / "var" / "storage"),
        DARVAZA_DOWNLOAD_OFFLOAD="x-accel",
        DARVAZA_BACKUP_DIR=str(tmp_path / "backups"),
        DARVAZA_AUDIT_CHECKPOINT_DIR=str(tmp_path / "checkpoints"),
        DARVAZA_ALERT_ROUTES_FILE=str(routes),
        DARVAZA_ALERT_WEBHOOK_SECRET=secrets.token_urlsafe(24),
        DARVAZA_MAIL_BACKEND="smtp", DARVAZA_SMTP_HOST="127.0.0.1",
        DARVAZA_SMTP_PORT=str(smtp_port), DARVAZA_SMTP_TLS="none",
        DARVAZA_MAIL_FROM="Members <members@example.com>",
        # The smoke checks run six times (live, the drill, the dry-run's three, the
        # rollback), each signing in ~60 times and registering, resetting and checking out.
        DARVAZA_RATE_LIMIT_LOGIN_PER_IP="10000/minute",
        DARVAZA_RATE_LIMIT_REGISTER_PER_IP="1000/hour",
        DARVAZA_RATE_LIMIT_PASSWORD_RESET_PER_IP="1000/hour",
        DARVAZA_RATE_LIMIT_PASSWORD_RESET_PER_EMAIL="1000/hour",
        DARVAZA_RATE_LIMIT_CHECKOUT_PER_IP="1000/hour",
        DARVAZA_RATE_LIMIT_CHECKOUT_PER_USER="1000/hour",
        # Short-lived download links, so content-download sees one expire soon.
        DARVAZA_DOWNLOAD_TOKEN_TTL_SECONDS="10",
        # The CLI (smoke checks, rollback) trusts this host's certificate.
        SSL_CERT_FILE=str(cert),
    )  # fmt: skip
    return env


def _start(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[str]:
    with log.open("w") as out:  # a file: a full pipe would stall the process
        return subprocess.Popen(
            [sys.executable, "-m", "darvaza.cli", *args],
            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=out, text=True,
        )  # fmt: skip


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def _statuses(env: dict[str, str], cwd: Path) -> tuple[int, dict[str, dict[str, object]]]:
    done = _darvaza("readiness", "--json", "--output", "READINESS.md", env=env, cwd=cwd)
    report = json.loads(done.stdout)
    return done.returncode, {proof["key"]: proof for proof in report["proofs"]}


def _rehearsed_up_down_and_up(cwd: Path, earlier: str) -> None:
    """The dry-run's evidence: up and every smoke check on one copy; up, down to the
    revision before the head, the earlier build's own smoke checks, up again and every
    smoke check on another; and the live database still at the head."""
    head = max(head_revisions())
    before = next(m.down_revision for m in migrations() if m.revision == head)
    with sqlite3.connect(cwd / "var" / "darvaza.db") as connection:
        result, details = connection.execute(
            "SELECT result, details FROM evidence WHERE kind = 'release_dry_run'"
        ).fetchone()
        assert connection.execute("SELECT version_num FROM alembic_version").fetchone() == (head,)
    rehearsal = json.loads(details)
    assert (result, rehearsal["down_to"], rehearsal["earlier_build"]) == ("passed", before, earlier)
    expected = [
        "restore and deep checks", f"upgrade to {head}", "start the server", "smoke all",
        "restore and deep checks", f"upgrade to {head}", f"downgrade to {before}",
        "start the earlier build", "smoke all on the earlier build", f"upgrade to {head} again",
        "start the server", "smoke all",
    ]  # fmt: skip
    assert [step["step"] for step in rehearsal["steps"]][-len(expected) :] == expected


def _roll_back_against(token: str, *, env: dict[str, str], cwd: Path) -> None:
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
    assert json.loads(rows[0][2]) == dict.fromkeys(CHECK_NAMES, "passed")
    assert json.loads(rows[1][2]) == {}  # no check ran
    _ran("migrate", env=env, cwd=cwd)


# Six smoke runs (each ~60 production-cost sign-ins and a 10 s link expiry), three deep
# restores and a dozen CLI processes: five to seven minutes beside another xdist worker.
@pytest.mark.timeout(900)
def test_a_fresh_staging_instance_becomes_ready_from_the_runbook(tmp_path: Path) -> None:
    app_port, https_port, http_port = free_port(), free_port(), free_port()
    storage = tmp_path / "var" / "storage"
    storage.mkdir(parents=True)
    front = tmp_path / "nginx"
    front.mkdir()
    main, cert = nginx.configure(
        front, storage, upstream_port=app_port, https_port=https_port, http_port=http_port
    )
    assert nginx.check(main).returncode == 0
    with ExitStack() as stack:
        receiver = stack.enter_context(webhook_receiver())
        inbox, smtp_port = stack.enter_context(_smtp())
        env = _staging_env(tmp_path, app_port=app_port, https_port=https_port, cert=cert,
                           receiver=receiver, smtp_port=smtp_port)  # fmt: skip
        base = env["DARVAZA_PUBLIC_URL"]
        trust = ssl.create_default_context(cafile=str(cert))

        # A staging host migrates before it serves: it refuses to start with one pending.
        _ran("migrate", env=env, cwd=tmp_path)
        server = _start(["serve"], env, tmp_path, tmp_path / "serve.log")
        stack.callback(_stop, server)
        worker = _start(["worker"], env, tmp_path, tmp_path / "worker.log")
        stack.callback(_stop, worker)
        proxy = nginx.start(main, https_port)
        stack.callback(proxy.wait, 10)
        stack.callback(proxy.terminate)
        wait_ready(f"http://127.0.0.1:{app_port}", server, tmp_path / "serve.log", seconds=30)
        ready = httpx.get(base + "/ready", verify=trust)
        assert ready.status_code == 200, ready.text
        plain = httpx.get(f"http://127.0.0.1:{http_port}/ready")
        assert plain.status_code == 301
        assert plain.headers["location"].startswith("https://")

        _ran("users", "create", "--email", "admin@example.com", "--role", "platform_admin",
             env={**env, "DARVAZA_PASSWORD": "correct-horse-battery-staple"},
             cwd=tmp_path)  # fmt: skip
        token = _ran("tokens", "create", "--email", "admin@example.com", "--name", "ops",
                     env=env, cwd=tmp_path).strip()  # fmt: skip

        # Fresh: nothing is proven yet, and each missing proof names what produces it.
        code, before = _statuses(env, tmp_path)
        assert code == 1
        assert list(before) == list(PROOF_KEYS)
        for key in (
            "staging_smoke",
            "deployment",
            "environment",
            "migration",
            "backup",
            "restore_drill",
            "alert_routing",
            "incident_rollback",
            "support_audit",
        ):
            # Missing its evidence; failing too where a live rule already says no (the
            # worker may not have run its audit checks yet).
            assert before[key]["status"] in ("missing", "fail"), key
            assert any(
                re.fullmatch(r"No \S+ evidence (from staging )?on record\.", blocker)
                for blocker in before[key]["blockers"]
            ), (key, before[key]["blockers"])
            assert before[key]["commands"], key
        assert before["production_claim"]["status"] == "fail"

        # The go-live runbook, proof by proof.
        _ran("config", "check", env=env, cwd=tmp_path)
        _ran("migrate", "--check", env=env, cwd=tmp_path)
        smoke = _ran("smoke", "all", "--admin-token", token, "--max-wait", "15",
                     env=env, cwd=tmp_path)  # fmt: skip
        assert [line.split()[:2] for line in smoke.splitlines()[1 : 1 + len(CHECK_NAMES)]] == [
            [name, "passed"] for name in CHECK_NAMES
        ]
        made = _ran("backup", "create", env=env, cwd=tmp_path)
        point = re.search(r"Restore point (\S+):", made)
        assert point, made
        _ran("backup", "verify", point.group(1), "--deep", env=env, cwd=tmp_path)
        _ran("drill", "restore", "--backup", point.group(1), "--max-wait", "15",
             env=env, cwd=tmp_path)  # fmt: skip
        # The build before the newest migration serves the downgraded copy, as the build
        # still in service would.
        earlier = shlex.join(earlier_build(tmp_path / "earlier"))
        _ran("release", "dry-run", "--backup", point.group(1), "--max-wait", "15",
             "--earlier-build", earlier, env=env, cwd=tmp_path)  # fmt: skip
        _rehearsed_up_down_and_up(tmp_path, earlier)
        routes = _ran("alerts", "routes", env=env, cwd=tmp_path)
        for route in ("critical", "money", "everything-else"):
            assert route in routes
            _ran("alerts", "test", "--route", route, env=env, cwd=tmp_path)
        _ran("drill", "incident", "--backup", point.group(1), env=env, cwd=tmp_path)
        _ran("audit", "seal", env=env, cwd=tmp_path)
        _ran("audit", "export", "--to", str(tmp_path / "bundle"), env=env, cwd=tmp_path)
        _ran("ops", "check", env=env, cwd=tmp_path)

        code, after = _statuses(env, tmp_path)
        assert {key: proof["status"] for key, proof in after.items()} == dict.fromkeys(
            PROOF_KEYS, "pass"
        ), {key: proof["blockers"] for key, proof in after.items() if proof["blockers"]}
        assert code == 0
        verdict = _darvaza("readiness", env=env, cwd=tmp_path)
        assert verdict.returncode == 0, verdict.stdout
        assert verdict.stdout.startswith("READY for staging")
        assert "READY" in (tmp_path / "docs" / "RUNTIME" / "READINESS.md").read_text()
        answer = httpx.get(base + "/api/v1/admin/readiness", verify=trust,
                           headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert answer.status_code == 200, answer.text
        assert answer.json()["verdict"] == "READY"

        # The staging proof counted this instance's own smoke verdicts, of this build.
        staging = after["staging_smoke"]["evidence"]
        assert {item["name"] for item in staging} == set(CHECK_NAMES)
        # The test alerts reached their receivers: the webhook signed, the mail delivered.
        tests = [r for r in receiver.received if "alerts.test" in r.body.decode()]
        assert sorted(r.json()["commonLabels"]["subject_id"] for r in tests) == [
            "critical",
            "money",
        ]  # the routes that send to the webhook
        assert all(r.headers["X-Darvaza-Signature"].startswith("sha256=") for r in tests)
        mailed = [m["Subject"] for m in inbox.to("ops@example.com")]
        assert sum("alerts.test" in subject for subject in mailed) == 2, mailed
        # The auditor's bundle verifies offline, with nothing but the public key.
        key = _ran("audit", "public-key", env=env, cwd=tmp_path).split()[-1]
        offline = {k: v for k, v in os.environ.items() if not k.startswith("DARVAZA_")}
        offline["DARVAZA_DATABASE_URL"] = "sqlite:////nonexistent/none.db"
        _ran("audit", "verify", "--bundle", str(tmp_path / "bundle"), "--public-key", key,
             env=offline, cwd=tmp_path)  # fmt: skip

        _roll_back_against(token, env=env, cwd=tmp_path)
    for log in ("serve.log", "worker.log"):
        assert '"status": 500' not in (tmp_path / log).read_text(), log
