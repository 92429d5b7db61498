"""The console's home. Everyone sees where to go from here; platform staff see first what
needs attention now (dead jobs, workers gone, payments stuck or mismatched, readiness) and
two charts a person would rather look at than read: payments per day, and the queue's
depth over the last day."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from darvaza.billing import service as billing
from darvaza.console.render import Pages
from darvaza.errors import N_
from darvaza.http import PartsDep
from darvaza.jobs import service as jobs
from darvaza.ops.service import check_readiness
from darvaza.parts import Parts
from darvaza.security.policy import SIGNED_IN, Access, Requires

router = APIRouter(prefix="/console", tags=["console"])
pages = Pages(Path(__file__).parent / "templates")
CHART_DAYS = 14
CHART_HOURS = 24


@dataclass(frozen=True)
class Attention:
    """One thing that needs a person: how many, what it is, where to look."""

    count: int
    what: str
    href: str
    severity: str  # "critical" or "warning"


async def _attention(parts: Parts) -> list[Attention]:
    settings = parts.settings
    stats = jobs.queue_stats(parts.db, stale_after=settings.worker_stale_after)
    dead = sum(n for (state, _kind), n in stats.by_state_and_kind.items() if state == "dead")
    payments = billing.payments_needing_attention(
        parts.db, stuck_after=billing.stuck_after(settings)
    )
    readiness = await check_readiness(parts.db, settings.readiness_timeout_seconds)
    found = [
        Attention(dead, N_("dead jobs"), "/console/admin/jobs?state=dead", "critical"),
        Attention(stats.workers_gone, N_("workers gone silent"), "/console/admin/workers",
                  "critical"),
        Attention(payments["stuck"], N_("payments stuck open"),
                  "/console/admin/payments?stuck=true", "critical"),
        Attention(payments["mismatch"], N_("payments whose amount did not match"),
                  "/console/admin/payments?state=mismatch", "critical"),
        Attention(len(readiness.failing()), N_("readiness checks failing"), "/ready", "critical"),
    ]  # fmt: skip
    if stats.workers_live == 0 and not settings.is_local:
        found.append(Attention(1, N_("no worker running"), "/console/admin/workers", "critical"))
    return [item for item in found if item.count]


@router.get("/", response_class=HTMLResponse)
async def home(
    request: Request, access: Annotated[Access, Requires(SIGNED_IN.for_pages())], parts: PartsDep
) -> HTMLResponse:
    caller = access.user
    tenants = sorted(
        (
            (caller.tenants[tenant_id], role)
            for tenant_id, role in caller.tenant_roles.items()
            if tenant_id in caller.tenants
        ),
        key=lambda pair: pair[0].name,
    )
    context: dict[str, object] = {"tenants": tenants, "staff": caller.platform_role is not None}
    if caller.platform_role is not None:
        zone = ZoneInfo(parts.settings.console_time_zone)
        context |= {
            "attention": await _attention(parts),
            "days": billing.payments_per_day(parts.db, days=CHART_DAYS, zone=zone),
            "depth": jobs.queue_depth_by_hour(parts.db, hours=CHART_HOURS),
        }
    return pages.render(request, access, "home.html", context)
