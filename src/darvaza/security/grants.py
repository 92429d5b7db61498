"""What a support access grant can cover: the tenant's data classes, and for each the
actions a `write` grant may name. Routes declare theirs here (`Policy.under_grant`) and
the support domain checks a request against the same table, so a grant can never name an
action no route has, nor a route claim one a grant cannot name.

Nothing that changes who holds standing access (adding an owner or a manager) or that
decides about support itself (approving a grant) is here: no grant can reach it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from darvaza.errors import N_, Forbidden
from darvaza.security.caller import Caller, TenantRef
from darvaza.security.roles import PlatformRole

if TYPE_CHECKING:
    from darvaza.security.policy import Gatekeeper

READ = "read"
WRITE = "write"
GrantAccess = Literal["read", "write"]

# Each data class with the write actions a grant may name, as `<class>.<verb>`.
DATA_CLASSES: dict[str, tuple[str, ...]] = {
    "payments": (),
    "subscriptions": ("subscriptions.create_plan", "subscriptions.update_plan"),
    "content": (
        "content.create",
        "content.upload",
        "content.update",
        "content.publish",
        "content.archive",
    ),
    "members": (),
    "downloads": ("downloads.revoke_tokens",),
    "tickets": ("tickets.reply", "tickets.triage"),
}
WRITE_ACTIONS = frozenset(action for actions in DATA_CLASSES.values() for action in actions)


@dataclass(frozen=True)
class GrantScope:
    """What one route needs from a grant: its data class, and for a change the action
    (None: the route only reads)."""

    data_class: str
    action: str | None = None

    def __post_init__(self) -> None:
        if self.data_class not in DATA_CLASSES:
            raise ValueError(f"unknown data class {self.data_class!r}")
        if self.action is not None and self.action not in DATA_CLASSES[self.data_class]:
            raise ValueError(f"{self.action!r} is not an action of {self.data_class!r}")

    def describe(self) -> dict[str, str | None]:
        return {"data_class": self.data_class, "action": self.action}


def covers(scope: GrantScope, *, data_classes: list[str], access: str, actions: list[str]) -> bool:
    """Whether a grant of these data classes, access and actions admits a route of
    `scope`. A write grant reads its data classes too."""
    if scope.data_class not in data_classes:
        return False
    if scope.action is None:
        return True
    return access == WRITE and scope.action in actions


# Where a request admitted under a support grant is noted (in `request.state`) for the
# middleware, which writes it to the grant's action log once the answer's status is known.
ACTING_UNDER_GRANT = "acting_under_grant"


@dataclass(frozen=True)
class ActingUnderGrant:
    grant_id: uuid.UUID
    user_id: uuid.UUID
    tenant_id: uuid.UUID


async def admit_under_grant(
    request: Request, gatekeeper: Gatekeeper, scope: GrantScope | None, caller: Caller | None,
    tenant: TenantRef | None,
) -> Caller:  # fmt: skip
    """A caller the route's policy refused, admitted after all when they are a support
    admin holding an approved grant that covers `scope` in this tenant; else the refusal.
    A support admin is told apart: what they lack is a grant, not a role."""
    if (
        scope is None
        or caller is None
        or tenant is None
        or caller.platform_role is not PlatformRole.SUPPORT_ADMIN
    ):
        raise Forbidden(N_("You are not allowed to do this."))
    grant_id = await run_in_threadpool(gatekeeper.support_grant, caller, tenant.id, scope)
    if grant_id is None:
        raise Forbidden(
            N_("This needs a support access grant, approved by the tenant, that covers it."),
            code="support_grant_required",
        )
    setattr(
        request.state, ACTING_UNDER_GRANT, ActingUnderGrant(grant_id, caller.user_id, tenant.id)
    )
    return replace(caller, support_grant_id=grant_id)
