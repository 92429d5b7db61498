"""The pieces a running Darvaza is assembled from, found by their type.

The composition root (`assembly.py`) builds them once per process; routes take them
through `http.part` and job handlers through their `JobContext`. The kit names no
domain's type: each domain asks for its own pieces (billing its gateways, content its
storage), and only the composition root knows them all.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from darvaza.config import Settings
from darvaza.db import Database

T = TypeVar("T")


class Parts:
    def __init__(self, settings: Settings, db: Database, *pieces: object) -> None:
        self.settings = settings
        self.db = db
        self._by_type: dict[Any, object] = {}
        for piece in pieces:
            self.add(piece)

    def add(self, piece: object, *, as_type: type[Any] | None = None) -> None:
        """Add one piece, found later by its own type or by `as_type` (a protocol)."""
        key = as_type or type(piece)
        if key in self._by_type:
            raise ValueError(f"{key.__name__} is assembled twice")
        self._by_type[key] = piece

    def get(self, kind: type[T]) -> T:
        try:
            return cast(T, self._by_type[kind])
        except KeyError:
            raise LookupError(f"no {kind.__name__} was assembled") from None
