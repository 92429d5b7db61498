"""Download throughput of a 100 MB file through Darvaza (a real uvicorn server, over
loopback) beside reading the same file from disk in the same run; and token issue and
check rates through the services.

    .venv/bin/python -m bench.content [--megabytes 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import uvicorn

from darvaza.app import create_app
from darvaza.config import Settings
from darvaza.content.downloads import issue_download_token, open_download
from darvaza.content.items import create_item, move_item
from darvaza.content.storage import CHUNK, LocalStorage
from darvaza.db import Database
from darvaza.identity.accounts import create_user
from darvaza.migrate import upgrade_to_head
from darvaza.security.caller import Actor
from darvaza.security.roles import PlatformRole
from darvaza.tenants.service import create_tenant

SYSTEM = Actor.system("bench")


def serve(settings: Settings) -> tuple[uvicorn.Server, str]:
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=0,
        log_config=None,
        access_log=False,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return server, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=f"sqlite:///{folder}/bench.db",
            storage_dir=f"{folder}/store",
            download_token_max_uses=1000,
            log_level="warning",
        )
        db = Database(settings.database_url)
        upgrade_to_head(db)
        storage = LocalStorage(settings.storage_dir)
        admin = create_user(
            db,
            SYSTEM,
            email="a@example.com",
            password="bench-password-1",
            min_length=10,
            platform_role=PlatformRole.PLATFORM_ADMIN,
        )
        tenant = create_tenant(db, SYSTEM, slug="bench", name="Bench", owner_email=admin.email)
        size = args.megabytes * 1024 * 1024
        stored = storage.write((os.urandom(CHUNK) for _ in range(args.megabytes)), max_bytes=size)
        item = create_item(
            db,
            storage,
            SYSTEM,
            tenant_id=tenant.id,
            title="Big",
            description="",
            unlocked_by="any_plan",
            plan_codes=[],
            stored=stored,
            filename="big.bin",
            content_type="application/octet-stream",
        )
        move_item(db, SYSTEM, tenant_id=tenant.id, item_id=item.id, move="publish")
        path = storage.path_of(stored.key)

        disk, http = [], []
        server, base = serve(settings)
        for _ in range(args.rounds):
            started = time.perf_counter()
            with Path(path).open("rb") as handle:
                while handle.read(CHUNK):
                    pass
            disk.append(size / (time.perf_counter() - started))
            token = issue_download_token(
                db,
                SYSTEM,
                tenant_id=tenant.id,
                item_id=item.id,
                user_id=admin.id,
                ttl=timedelta(minutes=5),
                max_uses=1,
                ip=None,
            ).token
            # curl in its own process: a client in this process would share the GIL.
            result = subprocess.run(
                [
                    "curl",
                    "-s",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{size_download} %{time_total}",
                    f"{base}/api/v1/downloads/{token}",
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            received, seconds = result.stdout.split()
            assert int(received) == size
            http.append(size / float(seconds))
        server.should_exit = True
        mb = 1024 * 1024
        disk_rate, http_rate = statistics.median(disk) / mb, statistics.median(http) / mb
        print(f"disk read ({args.megabytes} MB, page cache warm): median {disk_rate:.0f} MB/s")
        print(f"download through Darvaza over loopback: median {http_rate:.0f} MB/s")
        print(f"ratio download / disk: {statistics.median(http) / statistics.median(disk):.2f}")

        count = 300
        started = time.perf_counter()
        tokens = [
            issue_download_token(
                db,
                SYSTEM,
                tenant_id=tenant.id,
                item_id=item.id,
                user_id=admin.id,
                ttl=timedelta(minutes=5),
                max_uses=1,
                ip=None,
            ).token
            for _ in range(count)
        ]
        issued = count / (time.perf_counter() - started)
        started = time.perf_counter()
        for token in tokens:
            open_download(db, token, ip=None)
        checked = count / (time.perf_counter() - started)
        print(f"token issue: {issued:.0f}/s; token check and one use spent: {checked:.0f}/s")
        db.dispose()


if __name__ == "__main__":
    main()
