"""Identity's ops check: a burst of failed sign-ins (password guessing)."""

from __future__ import annotations

from datetime import timedelta

from darvaza.audit.service import count_actions
from darvaza.checks import Check, CheckContext, Observation, platform
from darvaza.errors import N_


def signin_failures(context: CheckContext) -> list[Observation]:
    """Failed sign-ins within the window past the threshold. Each client address writes
    at most `DARVAZA_RATE_LIMIT_ANONYMOUS_AUDIT_PER_IP` of them, so a spike here is many
    addresses, or one very patient one."""
    settings = context.parts.settings
    since = context.now - timedelta(minutes=settings.ops_spike_window_minutes)
    failed = count_actions(context.parts.db, "auth.login.failed", since=since)
    if failed < settings.ops_signin_failures_threshold:
        return []
    details = {
        "failed": failed,
        "window_minutes": settings.ops_spike_window_minutes,
        "threshold": settings.ops_signin_failures_threshold,
    }
    return [platform(details, name="sign-in")]


CHECKS = (
    Check(
        "identity.signin_failures",
        "medium",
        N_("A spike of failed sign-ins"),
        timedelta(minutes=1),
        signin_failures,
    ),
)
