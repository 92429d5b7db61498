"""Pure helpers for sending a file over HTTP: single byte ranges (RFC 9110) and a safe
Content-Disposition (RFC 6266, with RFC 5987's `filename*` for non-ASCII names)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(Exception):
    """A Range header that is malformed, reversed, past the end, or asks for several."""


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range asked for, or None for the whole file."""
    if header is None:
        return None
    match = _RANGE.match(header.strip())
    if match is None or size == 0:
        raise RangeNotSatisfiable(header)
    first, last = match.groups()
    if not first and not last:
        raise RangeNotSatisfiable(header)
    if not first:  # "bytes=-N": the last N bytes
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable(header)
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if start > end or start >= size:
        raise RangeNotSatisfiable(header)
    return ByteRange(start, min(end, size - 1))


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the exact name as UTF-8 `filename*`."""
    fallback = (
        "".join(
            char if char.isascii() and char.isprintable() and char not in '"\\;' else "_"
            for char in filename
        ).strip()
        or "download"
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
