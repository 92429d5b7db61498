"""Parameter types the routes share."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Path, Query
from pydantic import AwareDatetime, BeforeValidator, Field, WithJsonSchema

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _iso_8601_only(value: object) -> object:
    # Pydantic would read "0.5" or "1700000000" as seconds since 1970: a query that meant
    # something else entirely would quietly match.
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("an ISO 8601 time with a zone, such as 2026-12-01T10:00:00Z")
    return value


# A time in a query: ISO 8601 with a time zone, nothing else.
IsoTime = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_8601_only),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]

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

# An email address in a request body. Its size is bounded here and the contract says it is
# an address; whether it is a valid one is the service's rule (`accounts.email_key`), which
# answers with its own code.
EmailIn = Annotated[str, Field(min_length=3, max_length=320, json_schema_extra={"format": "email"})]

# A one-time token from a mailed link: a malformed one is refused by its shape (422); a
# well-formed one that names nothing is a 404.
OneTimeTokenIn = Annotated[str, Field(pattern=r"^dzo_[A-Za-z0-9_-]{43}$")]
