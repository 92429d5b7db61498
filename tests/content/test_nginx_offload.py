"""X-Accel-Redirect through a real nginx (Debian's), configured with the README's own
snippet: the bytes come from nginx, and the headers that keep a download safe (nosniff,
the content security policy, `Content-Disposition: attachment`) still reach the client."""

from __future__ import annotations

import hashlib
import re
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.types import ASGIApp

from darvaza.db import Database
from tests.content.test_content_api import Shop
from tests.support import nginx as nginx_site
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
    started: list[subprocess.Popen[bytes]] = []

    def start(upstream: str, storage: Path) -> str:
        port = _free_port()
        snippet = _readme_snippet().replace("http://127.0.0.1:4000", upstream)
        site = f"server {{\n    listen 127.0.0.1:{port};\n{snippet}}}\n"
        main, _ = nginx_site.configure(tmp_path, storage, site=site)
        started.append(nginx_site.start(main, port))
        return f"http://127.0.0.1:{port}"

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
