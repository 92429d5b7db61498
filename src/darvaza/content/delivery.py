"""How a granted download is answered: the file from storage (whole, or the byte range
asked for), or handed to nginx (`X-Accel-Redirect`); and every ending written to the
download log, refunding what was charged but not sent."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from darvaza.content.downloads import Grant, record_delivery
from darvaza.content.errors import RangeRefused
from darvaza.content.http_delivery import content_disposition
from darvaza.content.storage import Storage, StorageError
from darvaza.db import Database
from darvaza.errors import Gone


@dataclass(frozen=True)
class Sending:
    """The answer to one download request. `body` is None when a proxy sends the file."""

    status: int
    headers: dict[str, str]
    content_type: str
    body: Iterator[bytes] | None


def deliver(
    db: Database,
    storage: Storage,
    grant: Grant,
    *,
    ip: str | None,
    offload: str,
    offload_prefix: str,
) -> Sending:
    item = grant.item
    headers = {
        "Content-Disposition": content_disposition(item.filename),
        "Cache-Control": "private, no-store",
        "ETag": f'"{item.sha256}"',
        "Accept-Ranges": "bytes",
    }

    def log(outcome: str, status: int, sent: int, refund: int = 0) -> None:
        record_delivery(
            db, grant, ip=ip, outcome=outcome, status=status, bytes_sent=sent, refund=refund,
            start=grant.byte_range.start if grant.byte_range else None,
            end=grant.byte_range.end if grant.byte_range else None,
        )  # fmt: skip

    try:
        storage.size(item.storage_key)
    except StorageError:
        log("file_missing", 410, 0, refund=grant.charged)
        raise Gone("The file is missing from storage.", code="content_unavailable") from None
    if offload == "x-accel":
        headers["X-Accel-Redirect"] = offload_prefix + item.storage_key
        log("offloaded", 200, grant.charged)
        return Sending(200, headers, item.content_type, None)
    if grant.range_refused:
        log("range_refused", 416, 0)
        raise RangeRefused(
            "That byte range is not in the file.",
            headers={"Content-Range": f"bytes */{item.size_bytes}"},
        )
    byte_range = grant.byte_range
    start, end = (byte_range.start, byte_range.end) if byte_range else (0, item.size_bytes - 1)
    headers["Content-Length"] = str(end - start + 1)
    if byte_range:
        headers["Content-Range"] = f"bytes {start}-{end}/{item.size_bytes}"
    status = 206 if byte_range else 200

    def body() -> Iterator[bytes]:
        sent, outcome = 0, "interrupted"
        try:
            for chunk in storage.read(item.storage_key, start, end):
                sent += len(chunk)
                yield chunk
            outcome = "delivered"
        finally:
            log(outcome, status, sent, refund=grant.charged - sent)

    return Sending(status, headers, item.content_type, body())
