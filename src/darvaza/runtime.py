"""What a running app holds: its settings, database and metrics, reachable from any route."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from darvaza.config import Settings
from darvaza.db import Database
from darvaza.ops.metrics import Metrics


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    db: Database
    metrics: Metrics


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
