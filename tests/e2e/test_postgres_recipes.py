"""The README's two PostgreSQL recipes, run as written: the shell block after each
`<!-- recipe: NAME -->` marker goes to bash with only the names of roles and databases
made unique (so runs never collide) and the long-running commands started in the
background and stopped at the end."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import POSTGRES_URL, _service_param
from tests.e2e.test_serve import _free_port
from tests.support.served import wait_ready

ROOT = Path(__file__).resolve().parents[2]
DARVAZA = str(Path(sys.executable).with_name("darvaza"))
ADMIN = POSTGRES_URL.set(drivername="postgresql", database="postgres").render_as_string(False)
pytestmark = pytest.mark.timeout(300)


def recipe(name: str) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(rf"<!-- recipe: {name} -->\n```sh\n(.*?)```", readme, re.DOTALL)
    assert found, f"the README has no recipe {name}"
    return found.group(1)


@pytest.fixture
def names() -> Iterator[dict[str, str]]:
    """README name -> this run's name; whatever the run made is dropped afterwards."""
    suffix = secrets.token_hex(4)
    made = {
        name: f"{name}_{suffix}"
        for name in ("darvaza_try", "darvaza_prod", "darvaza_owner", "darvaza_app")
    }
    yield made
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        for database in (made["darvaza_try"], made["darvaza_prod"]):
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        for role in (made["darvaza_owner"], made["darvaza_app"]):
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')


def _script(text: str, names: dict[str, str]) -> str:
    for written, own in names.items():
        text = re.sub(rf"\b{written}\b", own, text)
    return text.replace(".venv/bin/darvaza", DARVAZA).replace("make run", f"{DARVAZA} serve")


def _background(script: str, commands: list[str]) -> tuple[str, list[str]]:
    """The script without its last long-running commands, and those commands."""
    lines = script.rstrip("\n").splitlines()
    tail = [line for line in lines if line.strip() in commands]
    return "\n".join(line for line in lines if line.strip() not in commands) + "\n", tail


def _environment(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARVAZA_")}
    env["DARVAZA_PORT"] = str(port)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return env


@pytest.mark.parametrize("backend", [_service_param("postgresql")])
def test_trying_postgresql_in_local(tmp_path: Path, names: dict[str, str], backend: str) -> None:
    assert backend == "postgresql"
    setup, (serve,) = _background(
        _script(recipe("postgresql-local"), names),
        [f"DARVAZA_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/"
         f"{names['darvaza_try']} {DARVAZA} serve"],
    )  # fmt: skip
    port = _free_port()
    env = _environment(port)
    made = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", setup], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            # bash runs a lone command in its own place: SIGTERM reaches darvaza itself.
            ["bash", "-c", serve],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=out,
        )
    try:
        ready = wait_ready(f"http://127.0.0.1:{port}", server, log).json()
        # local migrated by itself and runs its own worker: nothing else to start.
        assert ready["checks"]["migrations"]["ok"] is True
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


@pytest.mark.parametrize("backend", [_service_param("postgresql")])
def test_postgresql_in_production(tmp_path: Path, names: dict[str, str], backend: str) -> None:
    assert backend == "postgresql"
    setup, long_running = _background(
        _script(recipe("postgresql-production"), names),
        [f"{DARVAZA} serve", f"{DARVAZA} worker"],
    )
    assert long_running == [f"{DARVAZA} serve", f"{DARVAZA} worker"]
    port = _free_port()
    env = _environment(port)
    # The settings the recipe exports stay in force for its two processes, as they would
    # in the service manager's file.
    settings = tmp_path / "settings.env"
    made = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", setup + f"export -p > {settings}\n"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    assert "No problems for the production profile." in made.stdout
    base = f"http://127.0.0.1:{port}"
    serve_log, worker_log = tmp_path / "serve.log", tmp_path / "worker.log"
    processes: list[subprocess.Popen[str]] = []

    def start(command: str, log: Path) -> None:
        script = f"source {settings} && exec {command}"
        with log.open("w") as out:
            process = subprocess.Popen(
                ["bash", "-c", script], cwd=tmp_path, env=env, stdout=out, stderr=out
            )
        processes.append(process)

    try:
        start(long_running[0], serve_log)
        deadline = time.monotonic() + 60
        while True:  # up, but not ready: no worker yet
            try:
                early = httpx.get(base + "/ready")
                break
            except httpx.TransportError:
                assert processes[0].poll() is None, serve_log.read_text()
                assert time.monotonic() < deadline, serve_log.read_text()
                time.sleep(0.2)
        assert early.status_code == 503
        assert early.json()["checks"]["workers"]["ok"] is False
        start(long_running[1], worker_log)
        ready = wait_ready(base, processes[1], worker_log).json()
        assert ready["checks"]["workers"]["detail"].startswith("1 live")
        # The API serves as the role that owns nothing.
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            users = {
                row[0]
                for row in admin.execute(
                    "SELECT usename FROM pg_stat_activity WHERE datname = %s",
                    (names["darvaza_prod"],),
                )
            }
        assert users == {names["darvaza_app"]}
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)
