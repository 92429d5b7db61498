"""Running the RBAC matrix: every route, as every kind of caller, against its policy."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx

from darvaza.operations.smoke.client import Report, SmokeClient, SmokeFailed, run_smoke
from darvaza.operations.smoke.rbac.examples import API_EXAMPLES
from darvaza.operations.smoke.rbac.export_examples import EXPORT_EXAMPLES, EXPORT_PAGE_EXAMPLES
from darvaza.operations.smoke.rbac.incident_examples import (
    INCIDENT_EXAMPLES,
    INCIDENT_PAGE_EXAMPLES,
)
from darvaza.operations.smoke.rbac.page_examples import PAGE_EXAMPLES
from darvaza.operations.smoke.rbac.readiness_examples import (
    READINESS_EXAMPLES,
    READINESS_PAGE_EXAMPLES,
)
from darvaza.operations.smoke.rbac.support_examples import (
    SUPPORT_EXAMPLES,
    SUPPORT_PAGE_EXAMPLES,
)
from darvaza.operations.smoke.rbac.world import (
    _CALLER_TOKEN,
    PLATFORM_ROLE,
    TENANT_ROLE,
    Call,
    Example,
    World,
)
from darvaza.security.grants import DATA_CLASSES, READ, WRITE, GrantScope, covers

EXAMPLES = {
    **API_EXAMPLES, **SUPPORT_EXAMPLES, **INCIDENT_EXAMPLES, **READINESS_EXAMPLES,
    **EXPORT_EXAMPLES,
    **PAGE_EXAMPLES, **SUPPORT_PAGE_EXAMPLES, **INCIDENT_PAGE_EXAMPLES,
    **READINESS_PAGE_EXAMPLES, **EXPORT_PAGE_EXAMPLES,
}  # fmt: skip
GRANT_REQUIRED = "support_grant_required"

# --- Running the matrix -----------------------------------------------------------------


def expected_answer(policy: dict[str, Any], caller: str) -> str:
    """'ok', '401', '403' or '303', from a policy as the server declares it."""
    if policy["anonymous"]:
        return "ok"
    if caller == "anonymous":
        return "303" if policy.get("login_redirect") else "401"
    if policy["any_user"] or PLATFORM_ROLE.get(caller) in policy["platform_roles"]:
        return "ok"
    if policy["tenant_scoped"] and TENANT_ROLE.get(caller) in policy["tenant_roles"]:
        return "ok"
    return "403"


@dataclass
class Matrix:
    client: SmokeClient
    world: World
    report: Report
    bad_credentials: dict[str, str] = field(default_factory=dict)

    def send(self, method: str, call: Call, caller: str) -> httpx.Response:
        token = self.world.token_of(caller) if call.token is _CALLER_TOKEN else call.token
        headers = {"Authorization": call.authorization} if call.authorization else None
        return self.client.request(
            method,
            call.path,
            token=None if call.authorization else token,
            headers=headers,
            json=call.json,
            data=call.data,
            files=call.files,
            cookies=call.cookies,
            follow_redirects=False,
        )

    def judge(self, label: str, expected: str, call: Call, response: httpx.Response,
              code: str | None = None) -> None:  # fmt: skip
        """`code`: the error code a refusal must carry, when it matters which refusal."""
        status = response.status_code
        if expected == "ok":
            ok = 200 <= status < 400 or status in call.also_ok
        else:
            ok = status == int(expected) and (expected == "303" or _is_error_shape(response))
            ok = ok and (code is None or _error_code(response) == code)
        self.report.check(ok, f"{label}: expected {expected}, got {status} {response.text[:160]!r}")
        if ok and expected == "ok" and call.on_success is not None:
            call.on_success(response)

    def run_route(self, method: str, path: str, policy: dict[str, Any], example: Example) -> None:
        for caller in example.callers:
            expected = expected_answer(policy, caller)
            call = example.build(self.world, caller, expected == "ok")
            # A support admin refused a route a grant could open is told what is missing.
            code = (
                GRANT_REQUIRED
                if policy.get("support_grant") and caller == "support_admin"
                else None
            )
            self.judge(
                f"{method} {path} as {caller}",
                expected,
                call,
                self.send(method, call, caller),
                code,
            )
        if not policy["anonymous"]:
            for what, header in self.bad_credentials.items():
                call = example.build(self.world, "anonymous", False)
                call.authorization = header
                self.judge(
                    f"{method} {path} with {what}",
                    "401",
                    call,
                    self.send(method, call, "anonymous"),
                )
        if policy["tenant_scoped"]:
            call = example.build(self.world, "platform_admin", False)
            call.path = call.path.replace(
                f"/{self.world.tenant}", f"/smoke-{self.world.run}-none", 1
            )
            self.judge(
                f"{method} {path} for an unknown tenant",
                "404",
                call,
                self.send(method, call, "platform_admin"),
            )
        if example.foreign is not None:
            for caller, call in example.foreign(self.world):
                self.judge(
                    f"{method} {path} as {caller}, someone else's object",
                    "404",
                    call,
                    self.send(method, call, caller),
                )


def _error_code(response: httpx.Response) -> str | None:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


def _is_error_shape(response: httpx.Response) -> bool:
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(error, dict) and {"code", "message", "request_id"} <= set(error)


def _bad_credentials(world: World) -> dict[str, str]:
    customer = world.members["customer"]
    revoked, _ = world.login(customer)
    world.client.expect(204, "POST", "/api/v1/auth/logout", token=revoked)
    return {
        "a forged token": "Bearer dzs_" + secrets.token_urlsafe(32),
        "a truncated token": f"Bearer {customer.token[:-6]}",
        "a revoked token": f"Bearer {revoked}",
        "the wrong scheme": f"Token {customer.token}",
        "a bearer with no token": "Bearer",
    }


def served_operations(client: SmokeClient) -> dict[tuple[str, str], dict[str, Any]]:
    """(METHOD, path) -> declared policy, from the server's own OpenAPI document."""
    document = client.expect(200, "GET", "/api/v1/openapi.json").json()
    operations: dict[tuple[str, str], dict[str, Any]] = {}
    for path, methods in document.get("paths", {}).items():
        for method, operation in methods.items():
            operations[(method.upper(), path)] = operation.get("x-darvaza-policy")
    operations[("GET", "/api/v1/openapi.json")] = {
        "anonymous": True,
        "any_user": False,
        "platform_roles": [],
        "tenant_roles": [],
        "tenant_scoped": False,
    }
    return operations


def run_rbac_matrix(
    base_url: str, admin_token: str, *, examples: dict[tuple[str, str], Example] | None = None
) -> Report:
    def steps(client: SmokeClient, report: Report) -> None:
        _run_matrix(client, report, admin_token, EXAMPLES if examples is None else examples)

    return run_smoke("rbac-admin", base_url, steps)


def _run_matrix(
    client: SmokeClient, report: Report, admin_token: str, examples: dict[tuple[str, str], Example]
) -> None:
    who = client.expect(200, "GET", "/api/v1/auth/session", token=admin_token).json()
    if who.get("platform_role") != "platform_admin":
        raise SmokeFailed("the admin token does not belong to a platform admin")
    operations = served_operations(client)
    world = World(client, admin_token)
    world.build()
    matrix = Matrix(client, world, report, _bad_credentials(world))
    for (method, path), policy in sorted(operations.items()):
        if not report.check(policy is not None, f"{method} {path} declares no policy"):
            continue
        example = examples.get((method, path))
        if report.check(example is not None, f"{method} {path} has no example in the matrix"):
            assert example is not None  # noqa: S101 (checked on the line above)
            matrix.run_route(method, path, policy, example)
    for method, path in sorted(set(examples) - set(operations)):
        report.check(False, f"{method} {path} has an example but the server does not serve it")
    grant_routes = {
        route: policy for route, policy in operations.items()
        if policy and policy.get("support_grant") and route in examples
    }  # fmt: skip
    for scope in grant_scopes():
        run_under_grant(matrix, scope, grant_routes, examples)


# --- Under a support access grant -------------------------------------------------------


def grant_scopes() -> list[dict[str, Any]]:
    """One grant per scope a grant can have: each data class read, each action written."""
    scopes: list[dict[str, Any]] = [
        {"data_classes": [name], "access": READ} for name in DATA_CLASSES
    ]
    scopes += [
        {"data_classes": [name], "access": WRITE, "actions": [action]}
        for name, actions in DATA_CLASSES.items()
        for action in actions
    ]
    return scopes


def run_under_grant(
    matrix: Matrix, scope: dict[str, Any], routes: dict[tuple[str, str], dict[str, Any]],
    examples: dict[tuple[str, str], Example],
) -> None:  # fmt: skip
    """The support admin asks for `scope`, the tenant's owner approves, and every route a
    grant can open is called: those the scope covers must answer, the rest refuse with
    `support_grant_required`. Then the owner revokes it, the very next call is refused,
    and the grant's action log must hold each admitted call exactly once."""
    world, tenant = matrix.world, matrix.world.tenant
    label = f"{scope['access']} {'/'.join(scope.get('actions') or scope['data_classes'])}"
    grant_id = world.ask_for_grant(scope)
    grants = f"/api/v1/tenants/{tenant}/support-grants/{grant_id}"
    world.call_as("owner", 200, "POST", f"{grants}/approve", json={})
    admitted: list[tuple[str, str, int]] = []
    for (method, path), policy in sorted(routes.items()):
        needed = policy["support_grant"]
        covered = covers(
            GrantScope(needed["data_class"], needed["action"]),
            data_classes=scope["data_classes"], access=scope["access"],
            actions=scope.get("actions", []),
        )  # fmt: skip
        call = examples[(method, path)].build(world, "support_admin", covered)
        response = matrix.send(method, call, "support_admin")
        matrix.judge(f"{method} {path} as support_admin under a {label} grant",
                     "ok" if covered else "403", call, response,
                     None if covered else GRANT_REQUIRED)  # fmt: skip
        if covered:
            admitted.append((method, path, response.status_code))
    world.call_as("owner", 200, "POST", f"{grants}/revoke", json={"reason": "RBAC probe"})
    if admitted:
        method, path, _ = admitted[0]
        call = examples[(method, path)].build(world, "support_admin", True)
        response = matrix.send(method, call, "support_admin")
        after = f"{method} {path} as support_admin right after the {label} grant's revocation"
        matrix.judge(after, "403", call, response, GRANT_REQUIRED)
    actions = f"/api/v1/tenants/{tenant}/support-actions?grant_id={grant_id}&limit=200"
    log = world.call_as("owner", 200, "GET", actions)
    logged = sorted((a["method"], a["route"], a["status"]) for a in log["items"])
    matrix.report.check(
        logged == sorted(admitted),
        f"the {label} grant's action log: expected {sorted(admitted)}, found {logged}",
    )
