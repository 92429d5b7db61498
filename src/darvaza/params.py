"""Parameter types the routes share."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Path
from pydantic import AwareDatetime, BeforeValidator, WithJsonSchema

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
