"""Shapes of the content API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# A title holds at least one visible character; it is stored trimmed.
TITLE_PATTERN = r"\S"


class ContentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    description: str
    state: str
    unlocked_by: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    created_at: datetime
    published_at: datetime | None


class ListedContentOut(ContentOut):
    entitled: bool


class ContentPageOut(BaseModel):
    items: list[ListedContentOut]
    next_cursor: str | None = Field(description="Pass back as `cursor` for the next page")


class StaffContentPageOut(BaseModel):
    items: list[ContentOut]
    next_cursor: str | None = Field(description="Pass back as `cursor` for the next page")


class ContentChangeIn(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=200, pattern=TITLE_PATTERN)
    description: str | None = Field(default=None, max_length=10_000)
    unlocked_by: Literal["any_plan", "chosen_plans"] | None = None
    plan_codes: list[str] | None = Field(default=None, max_length=50)


class DownloadTokenOut(BaseModel):
    url: str
    expires_at: datetime
    max_uses: int


class RevokedTokensOut(BaseModel):
    revoked: int


class DownloadRecordOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    occurred_at: datetime
    content_id: uuid.UUID
    content_title: str
    user_id: uuid.UUID
    user_email: str
    ip: str | None
    outcome: str
    status_code: int
    bytes_sent: int
    range_start: int | None
    range_end: int | None
