"""`darvaza serve` (or a worker) run as its own process by an end-to-end test."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx


def wait_ready(
    base: str, process: subprocess.Popen[str], log: Path, *, seconds: float = 60
) -> httpx.Response:
    """`/ready`'s first 200; fails with the process's log if it dies or takes too long."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            answer = httpx.get(base + "/ready")
            if answer.status_code == 200:
                return answer
        except httpx.TransportError:
            pass
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
