"""Lists, one rule for all: newest first, at most `MAX_PAGE` rows a page, and a
`next_cursor` only when another row exists (each list reads one row more than it shows).
Time ranges are half open, `since` inclusive and `until` exclusive; one that ends before
it starts is refused rather than answered with nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import tuple_

from darvaza.errors import InvalidInput

if TYPE_CHECKING:
    from sqlalchemy import Row, Select
    from sqlalchemy.orm import QueryableAttribute

    from darvaza.db import Database

T = TypeVar("T")
MAX_PAGE = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def page_of(rows: Sequence[T], limit: int, cursor_of: Callable[[T], str]) -> Page[T]:
    """A page from `rows` read with `limit + 1`: the extra row only says there is more."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return Page(items, cursor_of(items[-1]) if more and items else None)


def check_range(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and since > until:
        raise InvalidInput("`since` is after `until`.", code="invalid_range")


def epoch_microseconds(at: datetime) -> int:
    return (at.astimezone(UTC) - _EPOCH) // _MICROSECOND


def from_epoch_microseconds(stamp: int) -> datetime:
    return _EPOCH + stamp * _MICROSECOND


def time_cursor(at: datetime, row_id: uuid.UUID) -> str:
    """The position after a row: its exact time and id (ties on time are broken by id)."""
    return f"{epoch_microseconds(at)}_{row_id.hex}"


def read_time_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        stamp, hex_id = cursor.split("_", 1)
        return from_epoch_microseconds(int(stamp)), uuid.UUID(hex=hex_id)
    except (ValueError, OverflowError):
        raise InvalidInput(
            "The cursor is not one this API gave out.", code="invalid_cursor"
        ) from None


Q = TypeVar("Q", bound="Select[Any]")


def newest_first(
    query: Q, at: QueryableAttribute[datetime], row_id: QueryableAttribute[uuid.UUID], *,
    cursor: str | None, limit: int,
) -> Q:  # fmt: skip
    """`query` ordered by (`at`, `row_id`) newest first, from after `cursor`, reading one
    row more than `limit` (for `page_of`)."""
    if cursor is not None:
        query = query.where(tuple_(at, row_id) < read_time_cursor(cursor))
    return query.order_by(at.desc(), row_id.desc()).limit(limit + 1)


def keyset_batches(
    db: Database,
    query: Select[Any] | Any,
    keys: Sequence[Any],
    *,
    batch: int = 1000,
) -> Iterator[Sequence[Row[Any]]]:
    """`query`'s rows in order of `keys` (unique together), one batch per read
    transaction, each after the last row of the one before: memory holds one batch
    however many rows there are (an export of a million rows needs no more than of a
    thousand). The keys must be the query's last selected columns, in order."""
    after: tuple[Any, ...] | None = None
    ordered = query.order_by(*keys).limit(batch)
    while True:
        # The first key's bound besides the row comparison: an index on it (or ending in
        # it) is then a range scan from there, not a scan from the start every batch.
        page = (
            ordered if after is None
            else ordered.where(keys[0] >= after[0], tuple_(*keys) > after)
        )  # fmt: skip
        with db.read() as session:
            # Core rows through the session's connection: no ORM loading for plain columns.
            rows = session.connection().execute(page).all()
        if rows:
            yield rows
        if len(rows) < batch:
            return
        after = tuple(rows[-1])[-len(keys) :]
