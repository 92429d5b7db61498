"""Where content files live. Keys are made by Darvaza, never taken from a user; every path
is resolved (symlinks included) and checked to stay under the storage root before any read
or write; a write lands under a temporary name and is renamed into place, so a broken
upload leaves nothing half-written.

`Storage` is the interface the content service uses. An S3-compatible backend would
implement the same methods and answer `delivery()` with a presigned URL instead of a path.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

CHUNK = 1024 * 1024


class StorageError(Exception):
    """A key that does not exist, or one that would lead outside the storage root."""


class TooLarge(Exception):
    """The file grew past the size limit while being written; nothing was kept."""


@dataclass(frozen=True)
class StoredFile:
    key: str
    size: int
    sha256: str


class Storage(Protocol):
    def write(self, chunks: Iterable[bytes], *, max_bytes: int) -> StoredFile: ...

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]: ...

    def size(self, key: str) -> int: ...

    def delete(self, key: str) -> None: ...

    def stored_files(self) -> Iterator[tuple[str, datetime]]: ...


def new_key() -> str:
    """Two levels of fan-out keep directories small: `ab/cd/abcd…`."""
    name = secrets.token_hex(16)
    return f"{name[:2]}/{name[2:4]}/{name}"


class LocalStorage:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path_of(self, key: str) -> Path:
        """The file for `key`, refusing anything that resolves outside the root."""
        if not key or "\x00" in key or key.startswith(("/", "\\")) or ".." in Path(key).parts:
            raise StorageError("not a storage key")
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise StorageError("the key leads outside the storage root")
        return path

    def write(self, chunks: Iterable[bytes], *, max_bytes: int) -> StoredFile:
        key = new_key()
        target = self.path_of(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
        digest, size = hashlib.sha256(), 0
        try:
            with temporary.open("xb") as handle:
                for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(f"larger than {max_bytes} bytes")
                    digest.update(chunk)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            temporary.rename(target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return StoredFile(key, size, digest.hexdigest())

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes `start` to `end` inclusive (the whole file by default), in chunks."""
        path = self._existing(key)
        with path.open("rb") as handle:
            handle.seek(start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                chunk = handle.read(CHUNK if remaining is None else min(CHUNK, remaining))
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def size(self, key: str) -> int:
        return self._existing(key).stat().st_size

    def delete(self, key: str) -> None:
        self.path_of(key).unlink(missing_ok=True)

    def stored_files(self) -> Iterator[tuple[str, datetime]]:
        """Every stored file's key with when it was last written (files being written,
        under their temporary names, left out)."""
        for path in self.root.rglob("*"):
            if path.name.startswith(".") or not path.is_file():
                continue
            written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            yield path.relative_to(self.root).as_posix(), written

    def _existing(self, key: str) -> Path:
        path = self.path_of(key)
        if not path.is_file():
            raise StorageError("no such file")
        return path
