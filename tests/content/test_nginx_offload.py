"""X-Accel-Redirect through a real nginx (Debian's), configured with the README's own
snippet: the bytes come from nginx, and the headers that keep a download safe (nosniff,
the content security policy, `Content-Disposition: attachment`) still reach the client."""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.types import ASGIApp

from darvaza.db import Database
from tests.content.test_content_api import Shop
from tests.support.world import Api, make_app

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_snippet() -> str:
    found = re.search(r"```nginx\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert found, "the README has no nginx snippet"
    return found.group(1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Callable[[str, Path], str]]:
    """`nginx(upstream, storage)`: nginx in front of the app, with the README's snippet."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        pytest.fail("nginx is not installed (make test installs Debian's nginx-light)")
    started: list[subprocess.Popen[bytes]] = []

    def start(upstream: str, storage: Path) -> str:
        port = _free_port()
        snippet = (
            _readme_snippet()
            .replace("http://127.0.0.1:4000", upstream)
            .replace("/srv/darvaza/var/storage/", f"{storage.resolve()}/")
        )
        # Workers run as this test's user, so they read its files and temp folders.
        user_line = f"user {pwd.getpwuid(os.getuid()).pw_name};" if os.getuid() == 0 else ""
        conf = tmp_path / "nginx.conf"
        conf.write_text(
            f"""
daemon off;
{user_line}
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    server {{
        listen 127.0.0.1:{port};
{snippet}
    }}
}}
""",
            encoding="utf-8",
        )
        process = subprocess.Popen([binary, "-p", str(tmp_path), "-c", str(conf)])
        started.append(process)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), 0.2):
                    return f"http://127.0.0.1:{port}"
            except OSError:
                if process.poll() is not None:
                    log = (tmp_path / "error.log").read_text(encoding="utf-8", errors="replace")
                    pytest.fail(f"nginx did not start: {log}")
                time.sleep(0.05)
        pytest.fail("nginx did not start listening")

    yield start
    for process in started:
        process.terminate()
        process.wait(10)


def test_offloaded_downloads_keep_their_safety_headers(
    db: Database,
    database_url: str,
    tmp_path: Path,
    serve: Callable[[ASGIApp], str],
    nginx: Callable[[str, Path], str],
) -> None:
    storage = tmp_path / "storage"
    app_url = serve(make_app(database_url, download_offload="x-accel", storage_dir=str(storage)))
    front = nginx(app_url, storage)
    shop = Shop(Api(front, db))  # everything through nginx, as in production
    item = shop.published()
    _, token = shop.subscriber()
    link = shop.link(item, token)
    response = httpx.get(front + link)
    assert response.status_code == 200, response.text
    data = shop.api.call("GET", "/api/v1/tenants/acme/content/all", token=shop.owner_token)
    sha256 = next(i["sha256"] for i in data.json()["items"] if i["id"] == item)
    assert hashlib.sha256(response.content).hexdigest() == sha256
    assert "x-accel-redirect" not in response.headers
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["content-disposition"].startswith("attachment;")
    assert headers["cache-control"] == "private, no-store"
    # nginx answers ranges itself, with the same headers.
    part = httpx.get(front + shop.link(item, token), headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == response.content[10:20]
    assert part.headers["x-content-type-options"] == "nosniff"
    assert part.headers["content-disposition"].startswith("attachment;")
    # The storage folder itself is not reachable from outside.
    key = next(p for p in storage.rglob("*") if p.is_file()).relative_to(storage)
    assert httpx.get(f"{front}/protected-files/{key}").status_code == 404
