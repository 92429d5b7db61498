"""A 500 MB upload, measured on the server: peak memory and bytes written to disk.

Three servers receive the same file from `curl -F` over loopback, each in a process of its
own so that its /proc counters are its alone:

- Darvaza (`darvaza serve`, SQLite): the multipart file part is streamed into storage;
- the yardstick that was Darvaza's own path before: Starlette parses the form (spooling
  the file to a temporary file), then the route copies it into storage (`bench/spooled_app.py`);
- the floor: writing the same bytes to a file once (`dd ... conv=fsync`).

    .venv/bin/python -m bench.upload [--megabytes 500]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from darvaza.db import Database
from darvaza.identity.accounts import create_user
from darvaza.migrate import upgrade_to_head
from darvaza.security.caller import Actor
from darvaza.tenants.service import create_tenant

PASSWORD = "bench-password-1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the server did not start")


def proc_io(pid: int) -> dict[str, int]:
    lines = Path(f"/proc/{pid}/io").read_text().splitlines()
    return {k: int(v) for k, v in (line.split(": ") for line in lines)}


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(
    server: subprocess.Popen[bytes], upload: list[str]
) -> tuple[float, float, float, float]:
    """(seconds, MB written to disk by the server, its RSS before, its peak RSS) in MB."""
    # Forget the peak so far (the sign-in's argon2 hash alone takes 64 MiB): "5" resets it.
    Path(f"/proc/{server.pid}/clear_refs").write_text("5")
    resting = rss_mb(server.pid)
    before = proc_io(server.pid)["write_bytes"]
    started = time.monotonic()
    done = subprocess.run(upload, capture_output=True, text=True, check=False)
    took = time.monotonic() - started
    if done.returncode != 0 or ('"sha256"' not in done.stdout and "stored" not in done.stdout):
        raise RuntimeError(f"upload failed: {done.stdout[:300]} {done.stderr[:300]}")
    written = (proc_io(server.pid)["write_bytes"] - before) / 1e6
    return took, written, resting, peak_rss_mb(server.pid)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=".") as folder:
        root = Path(folder).resolve()
        source = root / "upload.bin"
        with source.open("wb") as handle:
            for _ in range(args.megabytes):
                handle.write(os.urandom(1024 * 1024))
        env = {k: v for k, v in os.environ.items() if not k.startswith("DARVAZA_")}
        env.update(
            DARVAZA_DATABASE_URL=f"sqlite:///{root}/bench.db",
            DARVAZA_STORAGE_DIR=str(root / "store"),
            DARVAZA_LOG_LEVEL="warning",
            DARVAZA_WORKER_IN_PROCESS="false",
            DARVAZA_CONTENT_MAX_UPLOAD_BYTES=str((args.megabytes + 1) * 1024 * 1024),
            TMPDIR=str(root),
        )
        db = Database(env["DARVAZA_DATABASE_URL"])
        upgrade_to_head(db)
        owner = create_user(
            db, Actor.system("bench"), email="o@example.com", password=PASSWORD, min_length=10
        )
        create_tenant(db, Actor.system("bench"), slug="bench", name="B", owner_email=owner.email)
        db.dispose()

        results = []
        port = free_port()
        darvaza = subprocess.Popen(
            [sys.executable, "-m", "darvaza.cli", "serve", "--port", str(port)], env=env
        )
        try:
            wait_for(port)
            base = f"http://127.0.0.1:{port}"
            login = subprocess.run(
                ["curl", "-s", "-X", "POST", f"{base}/api/v1/auth/login", "-H",
                 "Content-Type: application/json", "-d",
                 f'{{"email": "o@example.com", "password": "{PASSWORD}"}}'],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            token = login.stdout.split('"token":"', 1)[1].split('"', 1)[0]
            results.append(
                (
                    "Darvaza: streamed into storage",
                    *measure(
                        darvaza,
                        [
                            "curl",
                            "-s",
                            "-H",
                            f"Authorization: Bearer {token}",
                            "-F",
                            f"file=@{source}",
                            "-F",
                            "title=Bench",
                            f"{base}/api/v1/tenants/bench/content",
                        ],
                    ),
                )
            )
        finally:
            darvaza.terminate()
            darvaza.wait(30)

        port = free_port()
        spooled = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "bench.spooled_app:app", "--port", str(port),
             "--log-level", "warning"],
            env={**env, "SPOOLED_STORE": str(root / "spooled")},
        )  # fmt: skip
        try:
            wait_for(port)
            results.append(
                (
                    "Starlette form spool, then copy",
                    *measure(
                        spooled,
                        [
                            "curl",
                            "-s",
                            "-F",
                            f"file=@{source}",
                            f"http://127.0.0.1:{port}/upload",
                        ],
                    ),
                )
            )
        finally:
            spooled.terminate()
            spooled.wait(30)

        started = time.monotonic()
        dd = subprocess.Popen(
            ["dd", f"if={source}", f"of={root}/dd.bin", "bs=1M", "conv=fsync", "status=none"]
        )
        written = 0
        while dd.poll() is None:
            try:
                written = proc_io(dd.pid)["write_bytes"]
            except (FileNotFoundError, ProcessLookupError):
                break
            time.sleep(0.01)
        results.append(("dd, one plain write", time.monotonic() - started, written / 1e6, 0.0, 0.0))

    print(f"{args.megabytes} MB upload over loopback, measured in the receiving process")
    print(f"{'path':34} {'seconds':>8} {'disk MB':>9} {'RSS at rest':>12} {'peak RSS':>9}")
    for name, took, disk, resting, peak in results:
        print(f"{name:34} {took:8.2f} {disk:9.0f} {resting:12.0f} {peak:9.0f}")


if __name__ == "__main__":
    main()
