"""Who may call what: the policies, and the one dependency every route declares.

Every route names its policy in its signature, Polar-style:

    def add_manager(..., access: Annotated[Access, Requires(TENANT_OWNER)]) -> ...

`route_policies(app)` reads them back into one table (the README prints it, the OpenAPI
document carries it as `x-darvaza-policy`, and the RBAC matrix tests every row). A route
without a policy fails the test suite.

The answers: 401 when no or bad credentials are presented to a route that needs them;
404 for a tenant (or, in services, an object) that does not exist or belongs to another
tenant; 403 for a known caller whom the policy does not admit.

The policy knows no domain: who a token stands for and which tenant a slug names are
asked of the `Gatekeeper` the composition root assembles (identity authenticates,
tenants adds the caller's roles and finds tenants). So every domain's routes, the lowest
included, declare their policy here.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Protocol
from urllib.parse import quote

from fastapi import Depends, FastAPI, Path, Request
from fastapi.routing import RouteContext, iter_route_contexts
from starlette.concurrency import run_in_threadpool

from darvaza.errors import (
    N_,
    Forbidden,
    LoginRequired,
    Unauthenticated,
)
from darvaza.http import get_parts
from darvaza.parts import Parts
from darvaza.security.caller import Caller, TenantRef
from darvaza.security.grants import GrantScope, admit_under_grant
from darvaza.security.roles import (
    STAFF_PLATFORM_ROLES,
    STAFF_TENANT_ROLES,
    PlatformRole,
    TenantRole,
)

SESSION_COOKIE = "darvaza_session"
LOGIN_PAGE = "/console/login"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_POLICY_ATTRIBUTE = "__darvaza_policy__"


class Gatekeeper(Protocol):
    """What the policy asks of the domains below it; both run in a worker thread."""

    def authenticate(self, token: str) -> Caller | None:
        """The caller a token stands for, with their roles; None when it is not valid."""

    def find_tenant(self, slug: str) -> TenantRef:
        """The tenant with this slug; `NotFound` when there is none."""

    def support_grant(
        self, caller: Caller, tenant_id: uuid.UUID, scope: GrantScope
    ) -> uuid.UUID | None:
        """The id of a support grant, approved and not yet over, by which `caller` may do
        what `scope` names in this tenant; None when there is none. Read fresh each time:
        a grant revoked a moment ago refuses the very next request."""


@dataclass(frozen=True)
class Policy:
    """Who a route admits. A caller passes if any clause admits them."""

    name: str
    summary: str
    anonymous: bool = False  # no credentials needed
    any_user: bool = False  # anyone signed in
    platform_roles: frozenset[PlatformRole] = field(default_factory=frozenset)
    tenant_roles: frozenset[TenantRole] = field(default_factory=frozenset)
    # The route's path has `{tenant}` (a slug): it must name an existing tenant, and
    # `tenant_roles` are the caller's roles in that tenant.
    tenant_scoped: bool = False
    # For pages: send someone who is not signed in here instead of answering 401.
    login_redirect: str | None = None
    # Prometheus' scrape: once DARVAZA_METRICS_TOKEN is set, only a bearer of that token.
    scrape_token: bool = False
    # Routes a gateway or a payer coming back from one calls: whatever credentials come
    # along (the payer's own session cookie, on the built-in mock gateway) are not read,
    # so they are neither checked for CSRF nor stand for anyone.
    reads_credentials: bool = True
    # A tenant's route a support admin may call under an approved support grant that
    # covers this data class (and, for a change, this action). None: no grant reaches it.
    grant_scope: GrantScope | None = None

    def admits(self, caller: Caller | None, tenant_id: uuid.UUID | None) -> bool:
        if self.anonymous:
            return True
        if caller is None:
            return False
        if self.any_user or caller.platform_role in self.platform_roles:
            return True
        return tenant_id is not None and caller.role_in(tenant_id) in self.tenant_roles

    def under_grant(self, data_class: str, action: str | None = None) -> Policy:
        """This policy, and a support admin holding a grant for `data_class` (with
        `action` for a change) in the route's tenant."""
        if not self.tenant_scoped:
            raise ValueError(f"{self.name}: only a tenant's routes can be reached by a grant")
        return replace(self, grant_scope=GrantScope(data_class, action))

    def refusals(self) -> dict[int, str]:
        """The answers this policy itself can give instead of the route's, by status."""
        found: dict[int, str] = {}
        if self.login_redirect:
            found[303] = f"Not signed in: sent to {self.login_redirect}."
            found[401] = "A bearer token was sent, and it is unknown, expired or revoked."
        elif not self.anonymous:
            found[401] = "Not signed in, or the token is unknown, expired or revoked."
        if not self.anonymous:
            found[403] = (
                "Signed in, but this caller may not do this (or a cookie session sent no "
                "CSRF token)."
            )
        if self.grant_scope:
            found[403] += (
                " A support admin without an approved grant covering this is refused with"
                " the code `support_grant_required`."
            )
        if self.tenant_scoped:
            found[404] = "No tenant has this slug."
        if self.scrape_token:
            found[401] = "DARVAZA_METRICS_TOKEN is set, and this is not its bearer."
        return found

    def for_pages(self) -> Policy:
        """The same policy for a console page: someone not signed in is sent to sign in
        (and back afterwards) instead of answered 401."""
        return replace(self, name=f"{self.name}_page", login_redirect=LOGIN_PAGE)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "anonymous": self.anonymous,
            "any_user": self.any_user,
            "platform_roles": sorted(role.value for role in self.platform_roles),
            "tenant_roles": sorted(role.value for role in self.tenant_roles),
            "tenant_scoped": self.tenant_scoped,
            "login_redirect": self.login_redirect,
            "scrape_token": self.scrape_token,
            "reads_credentials": self.reads_credentials,
            "support_grant": self.grant_scope.describe() if self.grant_scope else None,
        }


_ADMIN = frozenset({PlatformRole.PLATFORM_ADMIN})

PUBLIC = Policy("public", "anyone, signed in or not", anonymous=True)
PUBLIC_TENANT = Policy(
    "public_tenant", "anyone; the tenant must exist", anonymous=True, tenant_scoped=True
)
SIGNED_IN = Policy("signed_in", "anyone signed in (acting on their own account)", any_user=True)
TENANT_CUSTOMER = Policy(
    "tenant_customer",
    "anyone signed in, as a customer of the tenant; the tenant must exist",
    any_user=True,
    tenant_scoped=True,
)
PLATFORM_ADMIN = Policy("platform_admin", "platform admins", platform_roles=_ADMIN)
AUDIT_READER = Policy(
    "audit_reader",
    "platform admins and auditors (read only)",
    platform_roles=frozenset({PlatformRole.PLATFORM_ADMIN, PlatformRole.AUDITOR}),
)
OPS_READER = Policy(
    "ops_reader",
    "platform staff: platform admins, support admins and auditors (read only)",
    platform_roles=frozenset(
        {PlatformRole.PLATFORM_ADMIN, PlatformRole.SUPPORT_ADMIN, PlatformRole.AUDITOR}
    ),
)
TENANT_DIRECTORY = Policy(
    "tenant_directory",
    "platform admins and support admins",
    platform_roles=frozenset({PlatformRole.PLATFORM_ADMIN, PlatformRole.SUPPORT_ADMIN}),
)
SUPPORT_ADMIN = Policy(
    "support_admin", "support admins", platform_roles=frozenset({PlatformRole.SUPPORT_ADMIN})
)
TENANT_ADMIN = Policy(
    "tenant_admin", "platform admins, for one tenant", platform_roles=_ADMIN, tenant_scoped=True
)
TENANT_STAFF = Policy(
    "tenant_staff",
    "the tenant's owners and managers, and platform admins",
    platform_roles=STAFF_PLATFORM_ROLES,
    tenant_roles=STAFF_TENANT_ROLES,
    tenant_scoped=True,
)
TENANT_OWNER = Policy(
    "tenant_owner",
    "the tenant's owners, and platform admins",
    platform_roles=_ADMIN,
    tenant_roles=frozenset({TenantRole.OWNER}),
    tenant_scoped=True,
)
GATEWAY = Policy(
    "gateway",
    "anyone; no credentials are read (a gateway, or a payer coming back from one)",
    anonymous=True,
    reads_credentials=False,
)
METRICS_SCRAPER = Policy(
    "metrics_scraper",
    "anyone; once DARVAZA_METRICS_TOKEN is set, only its bearer",
    anonymous=True,
    scrape_token=True,
)


@dataclass(frozen=True)
class Access:
    """What a route learns from its policy: who is calling, and for which tenant."""

    policy: Policy
    caller: Caller | None
    tenant: TenantRef | None

    @property
    def user(self) -> Caller:
        if self.caller is None:  # the policy admitted nobody anonymous; this cannot happen
            raise Unauthenticated("Sign in first.")
        return self.caller

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.scoped_tenant.id

    @property
    def tenant_slug(self) -> str:
        return self.scoped_tenant.slug

    @property
    def scoped_tenant(self) -> TenantRef:
        if self.tenant is None:
            raise RuntimeError(f"policy {self.policy.name} is not tenant-scoped")
        return self.tenant


# The `{tenant}` of a tenant-scoped route, declared by its policy so every such operation
# names it in the contract.
TenantSlug = Annotated[str, Path(description="the tenant's slug", min_length=1, max_length=63)]


def Requires(policy: Policy) -> Any:
    """The dependency that enforces `policy` and hands the route its `Access`."""

    async def check(request: Request, tenant_slug: str | None) -> Access:
        parts = get_parts(request)
        if policy.scrape_token:
            _check_scrape_token(request, parts)
            return Access(policy, None, None)
        if not policy.reads_credentials:
            return Access(policy, None, None)
        gatekeeper = parts.get(Gatekeeper)
        caller = await _authenticate(request, gatekeeper, required=not policy.anonymous)
        # For a refusal shown as a page: it is laid out for the person who asked.
        request.state.caller = caller
        if caller is None and not policy.anonymous:
            if policy.login_redirect:
                raise LoginRequired(_login_location(policy.login_redirect, request))
            raise Unauthenticated(
                "Sign in first: send Authorization: Bearer <token>.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        tenant = None
        if tenant_slug is not None:
            tenant = await run_in_threadpool(gatekeeper.find_tenant, tenant_slug)
        if not policy.admits(caller, tenant.id if tenant else None):
            caller = await admit_under_grant(
                request, gatekeeper, policy.grant_scope, caller, tenant
            )
        if caller is not None and caller.via_cookie and request.method not in SAFE_METHODS:
            await _check_csrf(request, parts, caller)
        return Access(policy, caller, tenant)

    if policy.tenant_scoped:

        async def enforce(request: Request, tenant: TenantSlug) -> Access:
            return await check(request, tenant)
    else:

        async def enforce(request: Request) -> Access:  # type: ignore[misc]
            return await check(request, None)

    setattr(enforce, _POLICY_ATTRIBUTE, policy)
    return Depends(enforce)


def _login_location(login: str, request: Request) -> str:
    """The sign-in page, remembering the page asked for (a GET only: a form posted with a
    stale session is not replayed after signing in)."""
    if request.method != "GET":
        return login
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{login}?next={quote(wanted, safe='/')}"


async def _authenticate(
    request: Request, gatekeeper: Gatekeeper, *, required: bool
) -> Caller | None:
    """The caller behind the bearer token (or, failing that, the session cookie).

    On a route that needs a caller, a bearer token that is malformed or no longer valid is
    refused with 401; on a public route it is ignored.
    """
    header = request.headers.get("authorization")
    via_cookie = False
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token or " " in token:
            if not required:
                return None
            raise Unauthenticated(
                "Send credentials as Authorization: Bearer <token>.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_request"'},
            )
    elif (cookie := request.cookies.get(SESSION_COOKIE)) is not None:
        token, via_cookie = cookie, True
    else:
        return None
    caller = await run_in_threadpool(gatekeeper.authenticate, token)
    if caller is None:
        # A stale cookie is the browser's doing, not a claim the caller made: it means
        # "not signed in" (pages send them to sign in), where a bad bearer token is a 401.
        if not required or via_cookie:
            return None
        raise Unauthenticated(
            "The token is not valid: unknown, expired or revoked.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return replace(caller, via_cookie=True) if via_cookie else caller


def _check_scrape_token(request: Request, parts: Parts) -> None:
    token = parts.settings.metrics_token
    if token is None:
        return
    given = request.headers.get("authorization", "")
    expected = f"Bearer {token.get_secret_value()}"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthenticated(
            "Metrics need the metrics token.", headers={"WWW-Authenticate": "Bearer"}
        )


def csrf_token_for(secret_key: str, credential_id: uuid.UUID) -> str:
    """The CSRF token of one cookie session: derived, so nothing more is stored."""
    return hmac.new(secret_key.encode(), b"csrf:" + credential_id.bytes, hashlib.sha256).hexdigest()


async def _check_csrf(request: Request, parts: Parts, caller: Caller) -> None:
    """A state change made with the session cookie must carry the session's CSRF token
    (in the X-CSRF-Token header, a `csrf_token` form field, or for an upload the query's
    `csrf_token`). Bearer calls need none:
    a browser never adds an Authorization header by itself."""
    offered = request.headers.get(CSRF_HEADER)
    content_type = request.headers.get("content-type", "")
    if offered is None and content_type.startswith("multipart/form-data"):
        # An upload is streamed by its route, so its body is not read here: a page's
        # upload form carries the token in its address instead.
        offered = request.query_params.get(CSRF_FIELD)
    elif offered is None and content_type.startswith("application/x-www-form-urlencoded"):
        value = (await request.form()).get(CSRF_FIELD)
        offered = value if isinstance(value, str) else None
    expected = csrf_token_for(parts.settings.effective_secret_key, caller.credential_id)
    if offered is None or not hmac.compare_digest(offered, expected):
        raise Forbidden(
            N_("The form has expired or did not come from Darvaza."), code="csrf_failed"
        )


# --- The table ------------------------------------------------------------------------


@dataclass(frozen=True)
class RoutePolicy:
    method: str
    path: str
    policy: Policy | None


# Routes FastAPI adds by itself.
FRAMEWORK_ROUTES: dict[str, Policy] = {"/api/v1/openapi.json": PUBLIC}


def policy_of(route: RouteContext) -> Policy | None:
    """The one policy a route declares, or None. Two policies on one route is a bug."""
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return FRAMEWORK_ROUTES.get(route.path or "")
    found = [
        getattr(dependency.call, _POLICY_ATTRIBUTE)
        for dependency in _walk(dependant)
        if hasattr(dependency.call, _POLICY_ATTRIBUTE)
    ]
    if len(found) > 1:
        raise RuntimeError(f"{route.path} declares {len(found)} policies")
    return found[0] if found else None


def _walk(dependant: Any) -> list[Any]:
    found = []
    for sub in dependant.dependencies:
        found.append(sub)
        found.extend(_walk(sub))
    return found


def route_policies(app: FastAPI) -> list[RoutePolicy]:
    """Every (method, path) the app serves, with its policy (None where none is declared)."""
    table: list[RoutePolicy] = []
    for route in iter_route_contexts(app.routes):
        policy = policy_of(route)
        # As the contract writes it: `{job_id}`, not the router's `{job_id:int}`.
        path = getattr(route, "path_format", None) or route.path or ""
        table.extend(
            RoutePolicy(method, path, policy) for method in sorted(route.methods or {"GET"})
        )
    return table
