"""Shapes of the jobs API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JobState = Literal["queued", "running", "succeeded", "dead", "cancelled"]


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    queue: str
    state: str
    payload: dict[str, Any]
    priority: int
    attempts: int
    max_attempts: int
    run_at: datetime
    lease_owner: str | None
    lease_expires_at: datetime | None
    unique_key: str | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobPageOut(BaseModel):
    items: list[JobOut]
    next_cursor: str | None


class JobActionIn(BaseModel):
    reason: str | None = Field(default=None, max_length=500)


class WorkerOut(BaseModel):
    id: str
    host: str
    pid: int
    queues: str
    concurrency: int
    state: str
    gone: bool
    started_at: datetime
    last_seen_at: datetime
    jobs_running: int
    jobs_succeeded: int
    jobs_failed: int
