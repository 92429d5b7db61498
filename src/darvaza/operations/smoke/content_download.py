"""`darvaza smoke content-download`: a subscriber's bytes match the SHA-256; a
non-subscriber, a tampered token and an expired token are all refused."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime

from darvaza.operations.smoke.client import Report, SmokeClient, run_smoke
from darvaza.operations.smoke.payments import Shop, call_back, pay_with_mock, sign_up


def _download_path(url: str) -> str:
    return "/api/v1/downloads/" + url.rsplit("/", 1)[1]


def run_content_download(
    base_url: str, admin_token: str, *, max_wait_seconds: float = 30
) -> Report:
    # Long because: a smoke check is a script, read top to bottom as the story it tells.
    def steps(client: SmokeClient, report: Report) -> None:
        shop = Shop.open(client, admin_token)
        data = os.urandom(200_000)
        item = client.expect(
            201,
            "POST",
            f"/api/v1/tenants/{shop.tenant}/content",
            token=shop.owner_token,
            data={"title": "Smoke file"},
            files={"file": ("smoke-فایل.bin", data, "application/octet-stream")},
        ).json()
        report.check(
            item["sha256"] == hashlib.sha256(data).hexdigest(),
            "the stored SHA-256 is not the file's",
        )
        client.expect(
            200,
            "POST",
            f"/api/v1/tenants/{shop.tenant}/content/{item['id']}/publish",
            token=shop.owner_token,
        )
        _, fields = pay_with_mock(client, shop.customer_token, shop.tenant, "smoke")
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

        _, stranger = sign_up(client, admin_token, "stranger")
        refused = client.request("POST", token_path, token=stranger)
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
