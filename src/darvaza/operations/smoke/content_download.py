"""`darvaza smoke content-download`: a subscriber's bytes match the SHA-256; a
non-subscriber, a tampered token and an expired token are all refused."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime
from typing import Any

from darvaza.operations.smoke.client import Report, SmokeClient, run_smoke
from darvaza.operations.smoke.payments import Shop, call_back


def _download_path(url: str) -> str:
    return "/api/v1/downloads/" + url.rsplit("/", 1)[1]


TITLE = "Smoke file"


def _upload(client: SmokeClient, shop: Shop, data: bytes) -> dict[str, Any]:
    """The smoke tenant's one published item with `data` as its file: the item an earlier
    run left gets the new file (its old one is then an orphan the daily cleanup removes);
    the first run uploads it."""
    content = f"/api/v1/tenants/{shop.tenant}/content"
    upload = {"file": ("smoke-فایل.bin", data, "application/octet-stream")}
    listed = client.expect(200, "GET", content + "/all?limit=200", token=shop.owner_token).json()
    kept = next(
        (i for i in listed["items"] if i["title"] == TITLE and i["state"] != "archived"), None
    )
    if kept is not None:
        item = client.expect(
            200, "PUT", f"{content}/{kept['id']}/file", token=shop.owner_token, files=upload
        ).json()
    else:
        item = client.expect(
            201, "POST", content, token=shop.owner_token, data={"title": TITLE}, files=upload
        ).json()
    if item["state"] != "published":
        client.expect(200, "POST", f"{content}/{item['id']}/publish", token=shop.owner_token)
    return dict(item)


def run_content_download(
    base_url: str, admin_token: str, *, max_wait_seconds: float = 30
) -> Report:
    # Long because: a smoke check is a script, read top to bottom as the story it tells.
    def steps(client: SmokeClient, report: Report) -> None:
        shop = Shop.open(client, admin_token)
        data = os.urandom(200_000)
        item = _upload(client, shop, data)
        report.check(
            item["sha256"] == hashlib.sha256(data).hexdigest(),
            "the stored SHA-256 is not the file's",
        )
        _, fields = shop.pay()
        call_back(client, fields)
        token_path = f"/api/v1/tenants/{shop.tenant}/content/{item['id']}/download-token"
        issued = client.expect(201, "POST", token_path, token=shop.customer_token).json()
        path = _download_path(issued["url"])
        got = client.request("GET", path)
        report.check(
            got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == item["sha256"],
            f"the subscriber's download answered {got.status_code} with other bytes",
        )
        part = client.request("GET", path, headers={"Range": "bytes=100-199"})
        report.check(
            part.status_code == 206 and part.content == data[100:200], "a byte range was not served"
        )

        refused = client.request("POST", token_path, token=shop.stranger_token)
        report.check(
            refused.status_code == 403, f"a non-subscriber got a token ({refused.status_code})"
        )

        tampered = path[:-1] + ("A" if path[-1] != "A" else "B")
        answer = client.request("GET", tampered)
        report.check(answer.status_code == 404, f"a tampered token answered {answer.status_code}")

        expires = datetime.fromisoformat(issued["expires_at"].replace("Z", "+00:00"))
        wait = (expires - datetime.now(UTC)).total_seconds() + 1
        if wait <= max_wait_seconds:
            time.sleep(max(wait, 0))
            late = client.request("GET", path)
            report.check(late.status_code == 410, f"an expired token answered {late.status_code}")
        else:
            print(
                f"note: expired-token check skipped: the token lives {wait:.0f} s,"
                f" more than --max-wait {max_wait_seconds:g} s"
            )

    return run_smoke("content-download", base_url, steps)
