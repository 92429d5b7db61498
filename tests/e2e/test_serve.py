"""`darvaza serve` as an operator runs it (what `make run` does): its own process, the
embedded default database under ./var/, JSON log lines, a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from darvaza.assembly import WORK


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_with_nothing_configured(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARVAZA_")}
    log = (tmp_path / "serve.log").open("w")  # a file: a full pipe would stall the server
    process = subprocess.Popen(
        [sys.executable, "-m", "darvaza.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(base + "/health")
                break
            except httpx.TransportError:
                assert process.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "darvaza serve did not start"
                time.sleep(0.1)
        assert health.status_code == 200
        ready = httpx.get(base + "/ready")
        assert ready.status_code == 200, ready.text  # local migrated by itself
        missing = httpx.get(base + "/nope", headers={"X-Request-ID": "e2e-request-0001"})
        assert missing.status_code == 404
        # `make run` runs a worker in the same process: it reports in, and runs the upkeep
        # jobs that `darvaza jobs enqueue-ops` adds.
        assert ready.json()["checks"]["workers"]["detail"] in (
            "1 live, 0 gone",
            "no worker running",
        )
        ops = subprocess.run(
            [sys.executable, "-m", "darvaza.cli", "jobs", "enqueue-ops"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        job_ids = re.findall(r": job (\d+)", ops.stdout)
        assert len(job_ids) == len(WORK.upkeep), ops.stdout
        deadline = time.monotonic() + 30
        while True:
            listed = subprocess.run(
                [sys.executable, "-m", "darvaza.cli", "jobs", "list", "--state", "succeeded"],
                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=True,
            ).stdout  # fmt: skip
            if all(f"{job_id}  succeeded" in listed for job_id in job_ids):
                break
            assert time.monotonic() < deadline, listed
            time.sleep(0.5)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        log.close()
    stderr = (tmp_path / "serve.log").read_text()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells why.
    assert process.returncode in (0, -signal.SIGTERM), stderr
    assert "Application shutdown complete." in stderr
    assert (tmp_path / "var" / "darvaza.db").exists()

    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    requests = [line for line in lines if line["event"] == "request"]
    assert [r["route"] for r in requests] == ["/health", "/ready", "<unmatched>"]
    events = [line["event"] for line in lines]
    assert "worker_started" in events
    assert "worker_stopped" in events  # drained on SIGTERM
    last = requests[-1]
    assert last["request_id"] == "e2e-request-0001"
    assert (last["method"], last["status"]) == ("GET", 404)
    assert isinstance(last["duration_ms"], float | int)
    assert all(r["request_id"] for r in requests)
    assert all({"timestamp", "level", "logger"} <= set(line) for line in lines)


def test_serve_with_several_workers_runs_them_on_one_port_and_the_job_worker_once(
    tmp_path: Path,
) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARVAZA_")}
    env["DARVAZA_SERVE_WORKERS"] = "2"  # the setting; `--workers 2` is the same
    log_path = tmp_path / "serve.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "darvaza.cli", "serve", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            pids = set(re.findall(r"Started server process \[(\d+)\]", log_path.read_text()))
            try:
                if len(pids) == 2 and httpx.get(base + "/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        for pid in pids:
            os.kill(int(pid), 0)  # both API processes are alive
        assert str(process.pid) not in pids
        workers = subprocess.run(
            [sys.executable, "-m", "darvaza.cli", "jobs", "workers"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=True,
        ).stdout  # fmt: skip
        # One job worker, in the process that watches the API processes.
        assert len(workers.strip().splitlines()) == 1, workers
        assert f":{process.pid}:" in workers
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        log.close()
    assert '"worker_stopped"' in log_path.read_text()
