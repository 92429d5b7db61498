"""Shapes of the health, readiness and metrics answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str


class CheckOut(BaseModel):
    ok: bool
    detail: str
    duration_ms: float


class ReadinessOut(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, CheckOut]
