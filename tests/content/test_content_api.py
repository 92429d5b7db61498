"""Content over real HTTP: upload, publish, entitlement, download tokens, ranges, refusals."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update
from starlette.types import ASGIApp

from darvaza.billing.models import Subscription
from darvaza.clock import utcnow
from darvaza.content.models import DownloadToken
from darvaza.db import Database
from tests.support.world import (
    Api,
    Person,
    admin_token,
    error_code,
    gateway_path,
    make_app,
    person,
    return_fields,
)

DATA = os.urandom(256 * 1024 + 3)


class Shop:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.owner = person(api.db)
        api.call(
            "POST",
            "/api/v1/admin/tenants",
            token=admin_token(api.db),
            json={"slug": "acme", "name": "Acme", "owner_email": self.owner.email},
        )
        self.owner_token = api.login(self.owner)
        for code in ("gold", "silver"):
            api.call(
                "POST",
                "/api/v1/tenants/acme/plans",
                token=self.owner_token,
                json={"code": code, "name": code, "price_rials": 150_000, "period_days": 30},
            )

    def upload(self, data: bytes = DATA, name: str = "report.pdf", **form: str) -> httpx.Response:
        return self.api.call(
            "POST",
            "/api/v1/tenants/acme/content",
            token=self.owner_token,
            data={"title": "Annual report", **form},
            files={"file": (name, data, "application/pdf")},
        )

    def published(self, **form: str) -> str:
        made = self.upload(**form)
        assert made.status_code == 201, made.text
        item = made.json()["id"]
        assert (
            self.api.call(
                "POST", f"/api/v1/tenants/acme/content/{item}/publish", token=self.owner_token
            ).status_code
            == 200
        )
        return str(item)

    def subscriber(self, plan: str = "gold") -> tuple[Person, str]:
        who = person(self.api.db)
        token = self.api.login(who)
        started = self.api.call(
            "POST", "/api/v1/tenants/acme/checkout", token=token, json={"plan_code": plan}
        ).json()
        mock_path = gateway_path(self.api, started["redirect_url"])
        page = self.api.call("POST", mock_path, data={"action": "pay"})
        fields = return_fields(page)
        self.api.call("POST", "/api/v1/payments/callback/mock", data=fields)
        return who, token

    def link(self, item: str, token: str) -> str:
        response = self.api.call(
            "POST", f"/api/v1/tenants/acme/content/{item}/download-token", token=token
        )
        assert response.status_code == 201, response.text
        return "/api/v1/downloads/" + response.json()["url"].rsplit("/", 1)[1]


@pytest.fixture
def shop(api: Api) -> Shop:
    return Shop(api)


def test_a_subscriber_downloads_exactly_the_uploaded_bytes(shop: Shop) -> None:
    made = shop.upload(name="گزارش سالانه.pdf").json()
    assert made["sha256"] == hashlib.sha256(DATA).hexdigest()
    assert made["state"] == "draft"
    subscriber, token = shop.subscriber()
    listed = shop.api.call("GET", "/api/v1/tenants/acme/content", token=token).json()
    assert listed == {"items": [], "next_cursor": None}  # drafts are not listed
    shop.api.call(
        "POST", f"/api/v1/tenants/acme/content/{made['id']}/publish", token=shop.owner_token
    )
    listed = shop.api.call("GET", "/api/v1/tenants/acme/content", token=token).json()["items"]
    assert [(i["id"], i["entitled"]) for i in listed] == [(made["id"], True)]
    response = shop.api.call("GET", shop.link(made["id"], token))
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["etag"] == f'"{made["sha256"]}"'
    assert response.headers["cache-control"] == "private, no-store"
    assert "filename*=UTF-8''%DA%AF%D8%B2" in response.headers["content-disposition"]
    log = shop.api.call("GET", "/api/v1/tenants/acme/downloads", token=shop.owner_token).json()
    assert [(r["outcome"], r["bytes_sent"], r["status_code"]) for r in log] == [
        ("delivered", len(DATA), 200)
    ]
    # The log names who and what, not only their ids.
    assert (log[0]["user_email"], log[0]["content_title"]) == (subscriber.email, "Annual report")


def test_ranges_resume_a_download(shop: Shop) -> None:
    item = shop.published()
    _, token = shop.subscriber()
    link = shop.link(item, token)
    part = shop.api.call("GET", link, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert part.content == DATA[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(DATA)}"
    tail = shop.api.call("GET", link, headers={"Range": "bytes=-10"})
    assert tail.content == DATA[-10:]
    stale = shop.api.call("GET", link, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert (stale.status_code, len(stale.content)) == (200, len(DATA))
    for bad in ("bytes=9-0", f"bytes={len(DATA)}-", "bytes=0-1,4-5", "lines=1-2"):
        refused = shop.api.call("GET", link, headers={"Range": bad})
        assert refused.status_code == 416, bad
        assert error_code(refused) == "range_not_satisfiable"
        assert refused.headers["content-range"] == f"bytes */{len(DATA)}"


def test_no_subscription_no_token(shop: Shop) -> None:
    item = shop.published()
    stranger = shop.api.login(person(shop.api.db))
    response = shop.api.call(
        "POST", f"/api/v1/tenants/acme/content/{item}/download-token", token=stranger
    )
    assert response.status_code == 403
    assert error_code(response) == "not_entitled"
    listed = shop.api.call("GET", "/api/v1/tenants/acme/content", token=stranger).json()
    assert listed["items"][0]["entitled"] is False


def test_chosen_plans_unlock_only_their_subscribers(shop: Shop) -> None:
    item = shop.published(unlocked_by="chosen_plans", plan_codes="silver")
    _, gold = shop.subscriber("gold")
    _, silver = shop.subscriber("silver")
    refused = shop.api.call(
        "POST", f"/api/v1/tenants/acme/content/{item}/download-token", token=gold
    )
    assert refused.status_code == 403
    assert shop.api.call("GET", shop.link(item, silver)).status_code == 200


def test_the_list_pages_and_asks_the_same_few_queries_whatever_its_size(shop: Shop) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    silver_only = [
        shop.published(unlocked_by="chosen_plans", plan_codes="silver") for _ in range(3)
    ]
    anyone = [shop.published() for _ in range(4)]
    _, gold = shop.subscriber("gold")
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    # Every engine in this process, the server's included.
    event.listen(Engine, "before_cursor_execute", count)
    try:
        seen: list[tuple[str, bool]] = []
        cursor: str | None = None
        pages = 0
        while True:
            statements.clear()
            params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            page = shop.api.call(
                "GET", "/api/v1/tenants/acme/content", token=gold, params=params
            ).json()
            pages += 1
            tables = ("content_items", "content_plans", "subscriptions")
            content_queries = [s for s in statements if any(t in s for t in tables)]
            assert len(content_queries) <= 3, content_queries
            seen += [(item["id"], item["entitled"]) for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert pages == 3
    expected = [(item, item in anyone) for item in reversed(silver_only + anyone)]
    assert seen == expected  # newest first, each once, silver-only items locked for gold
    bad = shop.api.call(
        "GET", "/api/v1/tenants/acme/content", token=gold, params={"cursor": "nonsense"}
    )
    assert (bad.status_code, error_code(bad)) == (422, "validation_error")
    # Any cursor of the declared shape is a position: this one is before every item.
    first = shop.api.call(
        "GET", "/api/v1/tenants/acme/content", token=gold, params={"cursor": "0_" + "0" * 32}
    )
    assert (first.status_code, first.json()["items"]) == (200, [])
    too_many = shop.api.call(
        "GET", "/api/v1/tenants/acme/content", token=gold, params={"limit": 201}
    )
    assert too_many.status_code == 422


def test_entitlement_is_checked_again_at_download(shop: Shop) -> None:
    item = shop.published()
    who, token = shop.subscriber()
    link = shop.link(item, token)
    with shop.api.db.transaction() as session:
        session.execute(
            update(Subscription)
            .where(Subscription.user_id == who.user.id)
            .values(current_period_end=utcnow() - timedelta(seconds=1))
        )
    response = shop.api.call("GET", link)
    assert response.status_code == 403
    assert error_code(response) == "not_entitled"
    log = shop.api.call("GET", "/api/v1/tenants/acme/downloads", token=shop.owner_token).json()
    assert log[0]["outcome"] == "not_entitled"


def _token_row(db: Database) -> DownloadToken:
    with db.read() as session:
        return session.scalars(select(DownloadToken)).one()


def test_expired_used_up_revoked_and_tampered_tokens(
    api: Api, serve: Callable[[ASGIApp], str], database_url: str
) -> None:
    limited = Api(serve(make_app(database_url, download_token_max_uses=2)), api.db)
    try:
        shop = Shop(limited)
        item = shop.published()
        _, token = shop.subscriber()
        link = shop.link(item, token)
        assert limited.call("GET", link).status_code == 200
        assert limited.call("GET", link).status_code == 200
        used = limited.call("GET", link)
        assert (used.status_code, error_code(used)) == (410, "token_used_up")

        link = shop.link(item, token)
        tampered = link[:-1] + ("A" if link[-1] != "A" else "B")
        assert limited.call("GET", tampered).status_code == 404
        assert limited.call("GET", "/api/v1/downloads/../../etc/passwd").status_code == 404
        assert limited.call("GET", link[:-4]).status_code == 404

        with limited.db.transaction() as session:
            session.execute(
                update(DownloadToken).values(expires_at=utcnow() - timedelta(seconds=1))
            )
        expired = limited.call("GET", link)
        assert (expired.status_code, error_code(expired)) == (410, "token_expired")

        link = shop.link(item, token)
        revoked = limited.call(
            "POST", f"/api/v1/tenants/acme/content/{item}/revoke-tokens", token=shop.owner_token
        )
        assert revoked.json() == {"revoked": 1}
        gone = limited.call("GET", link)
        assert (gone.status_code, error_code(gone)) == (410, "token_revoked")
    finally:
        limited.close()


@pytest.mark.parametrize(
    "name", ["a\x00b.pdf", "bad\x07name.pdf", "evil\u202efdp.exe", "x" * 10_000, ".."]
)
def test_bad_filenames_are_refused_and_nothing_is_stored(shop: Shop, api: Api, name: str) -> None:
    """Sent raw in the multipart header (httpx would escape them): a clear refusal in the
    error shape, from the multipart reader (400) or from Darvaza (422), never a file."""
    boundary = "darvazaboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nT\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + DATA
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = api.call(
        "POST",
        "/api/v1/tenants/acme/content",
        token=shop.owner_token,
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code in (400, 422), response.text
    assert error_code(response) in ("bad_request", "invalid_filename")
    assert shop.api.call(
        "GET", "/api/v1/tenants/acme/content/all", token=shop.owner_token
    ).json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "name", ["a\x00b.pdf", "bad\x07name.pdf", "evil\u202efdp.exe", "x" * 256, "..", "", "dir/"]
)
def test_the_filename_rule_itself(name: str) -> None:
    from darvaza.content.items import clean_filename
    from darvaza.errors import InvalidInput

    with pytest.raises(InvalidInput):
        clean_filename(name)


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "C:\\Windows\\win.ini"])
def test_path_like_names_keep_only_their_last_part(shop: Shop, name: str) -> None:
    response = shop.upload(name=name)
    assert response.status_code == 201
    assert "/" not in response.json()["filename"]
    assert "\\" not in response.json()["filename"]


def test_empty_files_and_lying_sizes(shop: Shop) -> None:
    empty = shop.upload(data=b"")
    assert (empty.status_code, error_code(empty)) == (422, "empty_file")
    lied = shop.upload(size=str(len(DATA) + 1))
    assert (lied.status_code, error_code(lied)) == (422, "size_mismatch")
    honest = shop.upload(size=str(len(DATA)))
    assert honest.status_code == 201


def test_an_upload_past_the_limit_is_413_and_leaves_nothing(
    api: Api, serve: Callable[[ASGIApp], str], database_url: str, tmp_path: Path
) -> None:
    storage = tmp_path / "store"
    small = Api(
        serve(make_app(database_url, content_max_upload_bytes=64 * 1024, storage_dir=str(storage))),
        api.db,
    )
    try:
        shop = Shop(small)
        response = shop.upload()
        assert response.status_code == 413
        assert error_code(response) == "payload_too_large"
        assert [p for p in storage.rglob("*") if p.is_file()] == []
        assert shop.upload(data=b"small file").status_code == 201
    finally:
        small.close()


def test_states_move_one_way(shop: Shop) -> None:
    item = shop.upload().json()["id"]
    archive = shop.api.call(
        "POST", f"/api/v1/tenants/acme/content/{item}/archive", token=shop.owner_token
    )
    assert archive.status_code == 409
    shop.api.call("POST", f"/api/v1/tenants/acme/content/{item}/publish", token=shop.owner_token)
    assert (
        shop.api.call(
            "POST", f"/api/v1/tenants/acme/content/{item}/archive", token=shop.owner_token
        ).status_code
        == 200
    )
    again = shop.api.call(
        "POST", f"/api/v1/tenants/acme/content/{item}/publish", token=shop.owner_token
    )
    assert again.status_code == 409
    _, token = shop.subscriber()
    gone = shop.api.call("POST", f"/api/v1/tenants/acme/content/{item}/download-token", token=token)
    assert gone.status_code == 404


def test_a_draft_has_no_links_and_only_its_staff_are_told_why(shop: Shop) -> None:
    item = shop.upload().json()["id"]
    path = f"/api/v1/tenants/acme/content/{item}/download-token"
    staff = shop.api.call("POST", path, token=shop.owner_token)
    assert (staff.status_code, error_code(staff)) == (409, "not_published")
    _, token = shop.subscriber()
    outsider = shop.api.call("POST", path, token=token)
    assert (outsider.status_code, error_code(outsider)) == (404, "not_found")


def test_replacing_the_file_changes_what_is_delivered(shop: Shop) -> None:
    item = shop.published()
    _, token = shop.subscriber()
    replaced = shop.api.call(
        "PUT",
        f"/api/v1/tenants/acme/content/{item}/file",
        token=shop.owner_token,
        files={"file": ("v2.txt", b"second version", "text/plain")},
    )
    assert replaced.status_code == 200
    assert shop.api.call("GET", shop.link(item, token)).content == b"second version"


def test_another_tenants_content_is_unknown(shop: Shop) -> None:
    item = shop.published()
    other_owner = person(shop.api.db)
    shop.api.call(
        "POST",
        "/api/v1/admin/tenants",
        token=admin_token(shop.api.db),
        json={"slug": "globex", "name": "Globex", "owner_email": other_owner.email},
    )
    theirs = shop.api.login(other_owner)
    for method, suffix in (
        ("POST", "/publish"),
        ("POST", "/archive"),
        ("POST", "/revoke-tokens"),
        ("POST", "/download-token"),
    ):
        response = shop.api.call(
            method, f"/api/v1/tenants/globex/content/{item}{suffix}", token=theirs
        )
        assert response.status_code == 404, suffix


def test_x_accel_offload_hands_the_bytes_to_nginx(
    api: Api, serve: Callable[[ASGIApp], str], database_url: str
) -> None:
    offloaded = Api(serve(make_app(database_url, download_offload="x-accel")), api.db)
    try:
        shop = Shop(offloaded)
        item = shop.published()
        _, token = shop.subscriber()
        response = offloaded.call("GET", shop.link(item, token))
        assert response.status_code == 200
        assert response.content == b""
        assert response.headers["x-accel-redirect"].startswith("/protected-files/")
        assert ".." not in response.headers["x-accel-redirect"]
        assert "attachment" in response.headers["content-disposition"]
    finally:
        offloaded.close()


def test_issuance_and_refusals_are_audit_events(shop: Shop) -> None:
    from darvaza.audit.models import AuditEvent

    item = shop.published()
    _, token = shop.subscriber()
    link = shop.link(item, token)
    stranger = shop.api.login(person(shop.api.db))
    shop.api.call("POST", f"/api/v1/tenants/acme/content/{item}/download-token", token=stranger)
    shop.api.call(
        "POST", f"/api/v1/tenants/acme/content/{item}/revoke-tokens", token=shop.owner_token
    )
    shop.api.call("GET", link)
    with shop.api.db.read() as session:
        events = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action.startswith("content."))
            .order_by(AuditEvent.id)
        ).all()
    actions = [(e.action, e.reason) for e in events]
    assert ("content.download_token_issued", None) in actions
    assert ("content.download_refused", "not_entitled") in actions
    assert ("content.tokens_revoked", None) in actions
    assert ("content.download_refused", "token_revoked") in actions
    assert all(e.target_id == item for e in events if e.action.startswith("content.download"))


def _limited_shop(serve: Callable[[ASGIApp], str], database_url: str, api: Api, uses: int) -> Shop:
    return Shop(Api(serve(make_app(database_url, download_token_max_uses=uses)), api.db))


def test_a_link_counts_downloads_in_bytes_not_requests(
    api: Api, serve: Callable[[ASGIApp], str], database_url: str
) -> None:
    shop = _limited_shop(serve, database_url, api, uses=2)
    item = shop.published()
    _, token = shop.subscriber()
    link = shop.link(item, token)
    # One download in 40 ranges, as a download manager fetches it, and then a second whole.
    size, step = len(DATA), len(DATA) // 40 + 1
    pieces = []
    for start in range(0, size, step):
        part = shop.api.call("GET", link, headers={"Range": f"bytes={start}-{start + step - 1}"})
        assert part.status_code == 206, part.text
        pieces.append(part.content)
    assert b"".join(pieces) == DATA
    assert shop.api.call("GET", link).status_code == 200
    # Two downloads' worth of bytes: the link is spent, for a range as for the whole.
    used = shop.api.call("GET", link, headers={"Range": "bytes=0-0"})
    assert (used.status_code, error_code(used)) == (410, "token_used_up")


def test_tiny_ranges_cannot_stretch_a_link_forever(
    api: Api, serve: Callable[[ASGIApp], str], database_url: str
) -> None:
    from darvaza.content.downloads import REQUESTS_PER_DOWNLOAD

    shop = _limited_shop(serve, database_url, api, uses=1)
    item = shop.published()
    _, token = shop.subscriber()
    link = shop.link(item, token)
    answers = [
        shop.api.call("GET", link, headers={"Range": f"bytes={i}-{i}"}).status_code
        for i in range(REQUESTS_PER_DOWNLOAD + 1)
    ]
    assert answers == [206] * REQUESTS_PER_DOWNLOAD + [410]


def test_bytes_not_sent_are_given_back_to_the_link(db: Database, api: Api) -> None:
    from darvaza.content.downloads import open_download, record_delivery

    shop = Shop(api)
    item = shop.published()
    _, token = shop.subscriber()
    raw = shop.link(item, token).rsplit("/", 1)[1]
    grant = open_download(db, raw, ip=None, range_header="bytes=100-")
    assert grant.charged == len(DATA) - 100
    record_delivery(
        db, grant, ip=None, outcome="interrupted", status=206, bytes_sent=10,
        refund=grant.charged - 10,
    )  # fmt: skip
    with db.read() as session:
        record = session.scalars(select(DownloadToken)).one()
    assert (record.uses, record.bytes_served) == (1, 10)


@pytest.mark.timeout(120)
def test_aria2_with_16_connections_gets_the_whole_file(tmp_path: Path, api: Api) -> None:
    """The real download manager, as customers use it: 16 connections, 1 MiB pieces."""
    aria2 = shutil.which("aria2c")
    if aria2 is None:
        pytest.fail("aria2c is not installed (make test installs Debian's aria2)")
    shop = Shop(api)  # a link as issued by default (10 downloads)
    data = os.urandom(16 * 1024 * 1024 + 12_345)
    made = shop.upload(data=data, name="course.mp4").json()
    shop.api.call(
        "POST", f"/api/v1/tenants/acme/content/{made['id']}/publish", token=shop.owner_token
    )
    _, token = shop.subscriber()
    link = shop.api.url + shop.link(made["id"], token)
    done = subprocess.run(
        [aria2, "-x", "16", "-s", "16", "-k", "1M", "--allow-overwrite=true",
         "--auto-file-renaming=false", "--console-log-level=warn", "--summary-interval=0",
         "--max-download-limit=1M",  # loopback is too fast for a manager to bother splitting
         "-d", str(tmp_path), "-o", "course.mp4", link],
        capture_output=True, text=True, timeout=100, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    got = (tmp_path / "course.mp4").read_bytes()
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()
    log = shop.api.call("GET", "/api/v1/tenants/acme/downloads", token=shop.owner_token).json()
    assert len([r for r in log if r["status_code"] == 206]) >= 8  # it really split the file
    assert not [r for r in log if r["status_code"] >= 400]
    with api.db.read() as session:
        record = session.scalars(select(DownloadToken)).one()
    # What was charged is what was sent (a connection dropped early is given its unsent
    # bytes back): a small multiple of the file, far from the link's ten.
    assert record.bytes_served <= 3 * len(data)


def _send_partial_upload(url: str, path: str, token: str | None) -> bytes:
    """Headers announcing a 64 MB multipart body, then only its first kilobyte: a server
    that waits for the body before checking access never answers."""
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        f"Content-Length: {64 * 1024 * 1024}\r\n"
        + (f"Authorization: Bearer {token}\r\n" if token else "")
        + "\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(head.encode() + b"--xyz\r\n" + b"x" * 1024)
        try:
            return conn.recv(4096)
        except TimeoutError:
            return b""


@pytest.mark.parametrize("who", ["anonymous", "customer", "another tenant's owner"])
def test_an_upload_is_refused_before_its_body_is_read(shop: Shop, who: str) -> None:
    token = None
    if who == "customer":
        token = shop.api.login(person(shop.api.db))
    elif who == "another tenant's owner":
        other = person(shop.api.db)
        shop.api.call(
            "POST", "/api/v1/admin/tenants", token=admin_token(shop.api.db),
            json={"slug": "other", "name": "Other", "owner_email": other.email},
        )  # fmt: skip
        token = shop.api.login(other)
    for path in ("/api/v1/tenants/acme/content", "/api/v1/tenants/nope/content"):
        answer = _send_partial_upload(shop.api.url, path, token)
        status = answer.split(b" ", 2)[1] if answer else b"no answer within 5 s"
        expected = {"anonymous": b"401", "customer": b"403"}.get(who, b"403")
        if path.endswith("/nope/content") and who != "anonymous":
            expected = b"404"
        assert status == expected, (who, path, answer[:200])


def test_uploads_check_their_form(shop: Shop) -> None:
    missing_title = shop.api.call(
        "POST", "/api/v1/tenants/acme/content", token=shop.owner_token,
        files={"file": ("a.pdf", b"%PDF", "application/pdf")},
    )  # fmt: skip
    assert (missing_title.status_code, error_code(missing_title)) == (422, "validation_error")
    assert missing_title.json()["error"]["details"][0]["field"] == "body.title"
    no_file = shop.api.call(
        "POST", "/api/v1/tenants/acme/content", token=shop.owner_token, data={"title": "x"},
        files={"other": ("a.pdf", b"%PDF", "application/pdf")},
    )  # fmt: skip
    assert no_file.status_code == 422
    assert no_file.json()["error"]["details"][0]["field"] == "body.file"
    not_multipart = shop.api.call(
        "POST", "/api/v1/tenants/acme/content", token=shop.owner_token, json={"title": "x"}
    )
    assert (not_multipart.status_code, error_code(not_multipart)) == (
        415, "unsupported_media_type",
    )  # fmt: skip
    two_files = shop.api.call(
        "POST", "/api/v1/tenants/acme/content", token=shop.owner_token, data={"title": "x"},
        files=[("file", ("a.pdf", b"1", "application/pdf")),
               ("file", ("b.pdf", b"2", "application/pdf"))],
    )  # fmt: skip
    assert (two_files.status_code, error_code(two_files)) == (422, "several_files")
    huge_field = shop.api.call(
        "POST", "/api/v1/tenants/acme/content", token=shop.owner_token,
        data={"title": "x", "description": "d" * 20_000},
        files={"file": ("a.pdf", b"%PDF", "application/pdf")},
    )  # fmt: skip
    assert (huge_field.status_code, error_code(huge_field)) == (422, "field_too_long")
    # Fields after the file are read too; nothing refused was kept.
    after = shop.api.call(
        "POST", "/api/v1/tenants/acme/content", token=shop.owner_token,
        files=[("file", ("a.pdf", DATA, "application/pdf")), ("title", (None, "After"))],
    )  # fmt: skip
    assert after.status_code == 201, after.text
    assert after.json()["title"] == "After"
    listed = shop.api.call("GET", "/api/v1/tenants/acme/content/all", token=shop.owner_token)
    assert [i["title"] for i in listed.json()["items"]] == ["After"]
