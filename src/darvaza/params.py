"""Parameter types the routes share."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import Path, Query
from pydantic import AwareDatetime, BeforeValidator, Field, WithJsonSchema

from darvaza.paging import MAX_PAGE

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _iso_8601_only(value: object) -> object:
    # Pydantic would read "0.5" or 1700000000 as seconds since 1970: a query or a body that
    # meant something else entirely would quietly be taken.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("an ISO 8601 time with a zone, such as 2026-12-01T10:00:00Z")
    return value


# A time in a query or a body: ISO 8601 text with a time zone, nothing else.
IsoTime = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_8601_only),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]

# How many rows a list returns (`paging.MAX_PAGE` at most).
PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"at most {MAX_PAGE}")]

# A numeric id in a path (jobs): within the database's BIGINT, so an id past it is a 422,
# not an overflow inside the database driver.
NumericId = Annotated[int, Path(ge=1, le=2**63 - 1)]

# The cursor of a list paged by a numeric id (audit events, jobs): the id to continue
# below. Any value of this shape is a valid position, so the contract can say exactly what
# is accepted.
IdCursor = Annotated[
    str | None,
    Query(pattern=r"^[0-9]{1,18}$", description="`next_cursor` of the page before"),
]

# The cursor of a list paged newest first by (time, uuid): microseconds since 1970 and the
# id. Every string of this shape is a valid position (17 digits stay within year 9999).
TIME_CURSOR_PATTERN = r"^[0-9]{1,17}_[0-9a-f]{32}$"
TimeCursor = Annotated[
    str | None,
    Query(pattern=TIME_CURSOR_PATTERN, description="`next_cursor` of the page before"),
]
# An email address in a request body. Its size is bounded here and the contract says it is
# an address; whether it is a valid one is the service's rule (`accounts.email_key`), which
# answers with its own code.
EmailIn = Annotated[str, Field(min_length=3, max_length=320, json_schema_extra={"format": "email"})]

# A one-time token from a mailed link: a malformed one is refused by its shape (422); a
# well-formed one that names nothing is a 404.
ONE_TIME_TOKEN = r"^dzo_[A-Za-z0-9_-]{43}$"
OneTimeTokenIn = Annotated[str, Field(pattern=ONE_TIME_TOKEN)]
