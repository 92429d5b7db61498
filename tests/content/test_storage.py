"""Local storage: keys it makes, paths it checks, writes that land whole or not at all."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from darvaza.content.http_delivery import (
    ByteRange,
    RangeNotSatisfiable,
    content_disposition,
    parse_range,
)
from darvaza.content.storage import LocalStorage, StorageError, TooLarge


def test_a_write_is_hashed_and_readable_in_ranges(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "store")
    data = os.urandom(3 * 1024 * 1024 + 7)
    stored = storage.write(iter([data[:1000], data[1000:]]), max_bytes=10**8)
    assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert b"".join(storage.read(stored.key)) == data
    assert b"".join(storage.read(stored.key, 10, 19)) == data[10:20]
    assert storage.size(stored.key) == len(data)


def test_a_broken_or_oversized_write_leaves_nothing(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)

    def broken() -> Iterator[bytes]:
        yield b"x" * 1000
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        storage.write(broken(), max_bytes=10**6)
    with pytest.raises(TooLarge):
        storage.write(iter([b"x" * 600, b"x" * 600]), max_bytes=1000)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize(
    "key", ["../escape", "/etc/passwd", "ab/../../x", "", "a\x00b", "..", "\\windows"]
)
def test_keys_that_lead_outside_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(StorageError):
        LocalStorage(tmp_path / "store").path_of(key)


def test_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "store"
    storage = LocalStorage(root)
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "file").write_text("private")
    (root / "ab").symlink_to(outside)
    with pytest.raises(StorageError):
        storage.path_of("ab/file")
    with pytest.raises(StorageError):
        list(storage.read("ab/file"))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", ByteRange(0, 9)),
        ("bytes=90-", ByteRange(90, 99)),
        ("bytes=-10", ByteRange(90, 99)),
        ("bytes=-500", ByteRange(0, 99)),
        ("bytes=95-200", ByteRange(95, 99)),
    ],
)
def test_single_ranges(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize(
    "header",
    ["bytes=9-0", "bytes=100-", "bytes=0-1,5-6", "items=0-1", "bytes=-0", "bytes=-", "0-9"],
)
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 100)


def test_content_disposition_keeps_persian_names_exact_and_safe() -> None:
    header = content_disposition('گزارش "سالانه".pdf')
    assert header.startswith('attachment; filename="')
    assert "filename*=UTF-8''%DA%AF%D8%B2" in header
    fallback = header.split('filename="', 1)[1].split('"', 1)[0]
    assert fallback.isascii()
    assert fallback.endswith(".pdf")
    assert content_disposition("report.pdf") == (
        "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    )
