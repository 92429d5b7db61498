"""Debian's nginx for tests, running the shipped site (docs/deploy/nginx/darvaza.conf) with
a test's certificate, storage folder and ports in place of the production ones."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.tls import self_signed

SITE = Path(__file__).resolve().parents[2] / "docs" / "deploy" / "nginx" / "darvaza.conf"


def nginx_binary() -> str:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        pytest.fail("nginx is not installed (make test installs Debian's nginx-light)")
    return binary


def configure(
    folder: Path,
    storage: Path,
    *,
    site: str | None = None,
    upstream_port: int | None = None,
    https_port: int | None = None,
    http_port: int | None = None,
) -> tuple[Path, Path]:
    """Write the site (the shipped one unless given) and a main configuration around it,
    with a fresh certificate; the main configuration's path and the certificate's. With
    ports, the site listens on loopback there and proxies to the one upstream port."""
    cert, key = self_signed(folder)
    text = site if site is not None else SITE.read_text(encoding="utf-8")
    text = (
        text.replace("/etc/letsencrypt/live/members.example.com/fullchain.pem", str(cert))
        .replace("/etc/letsencrypt/live/members.example.com/privkey.pem", str(key))
        .replace("/srv/darvaza/var/storage/", f"{storage.resolve()}/")
    )
    if upstream_port is not None:
        text = text.replace("server 127.0.0.1:4001;", f"server 127.0.0.1:{upstream_port};")
        text = "\n".join(line for line in text.splitlines() if "127.0.0.1:4002" not in line)
    if https_port is not None:
        text = text.replace("listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl")
    if http_port is not None:
        text = text.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    if https_port is not None or http_port is not None:  # loopback only, no IPv6
        text = "\n".join(line for line in text.splitlines() if "listen [::]" not in line)
    (folder / "darvaza.conf").write_text(text, encoding="utf-8")
    # As root, workers run as the test's user, so they read its files and temp folders.
    user = f"user {pwd.getpwuid(os.getuid()).pw_name};" if os.getuid() == 0 else ""
    temp = " ".join(f"{kind}_temp_path {folder}/{kind};" for kind in
                    ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))  # fmt: skip
    main = folder / "nginx.conf"
    main.write_text(
        f"{user}\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        f"events {{ worker_connections 64; }}\n"
        f"http {{ access_log off; {temp} include {folder}/darvaza.conf; }}\n",
        encoding="utf-8",
    )
    return main, cert


def check(main: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on the configuration."""
    return subprocess.run(
        [nginx_binary(), "-t", "-p", str(main.parent), "-c", str(main)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def start(main: Path, port: int) -> subprocess.Popen[bytes]:
    """nginx in the foreground, once it listens on the port."""
    process = subprocess.Popen(
        [nginx_binary(), "-p", str(main.parent), "-c", str(main), "-g", "daemon off;"]
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return process
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.05)
    process.kill()
    log = (main.parent / "error.log").read_text(encoding="utf-8", errors="replace")
    pytest.fail(f"nginx did not start: {log}")
