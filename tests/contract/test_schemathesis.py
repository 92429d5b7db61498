"""The published contract, checked against the real server by schemathesis: as a platform
admin (every operation), a tenant's owner and a customer (every operation their role may
call: the RBAC matrix checks the refusals), each operation is called with examples, with
the edge values of every declared constraint (coverage) and with generated input (fuzzing);
every answer must be one the document declares, in its declared shape, never a 5xx, and
schema-valid input must not be refused for reasons the schema does not state.

Path parameters are drawn nine times in ten from a small world made before the run (see
`_world`), so calls reach the rules behind the lookups rather than stopping at a 404; the
rest are generated. The stateful phase then chains calls through the links schemathesis
infers from the document. A call may end the caller's own session (signing out, a role
change); the run then signs in again (`schemathesis_hooks.py`).

The budget is fixed (a seed and an example count), so a run takes well under a minute per
role and fails the same way twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from darvaza.billing.plans import create_plan
from darvaza.operations.service import create_backup
from darvaza.security.roles import PlatformRole
from darvaza.tenants.service import create_tenant
from tests.support.settings import make_settings
from tests.support.world import SYSTEM, Api, Person, person, return_fields

CONFIG = Path(__file__).with_name("schemathesis.toml")
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
# A password change: the run signs in again with the password it knows (see the hooks).
EXCLUDED = r"^/api/v1/auth/password$"
# Path parameters drawn, nine times in ten, from the world the test made before the run.
DRAWN = (
    "tenant", "plan_id", "item_id", "order_id", "payment_id", "subscription_id", "token",
    "token_id", "job_id", "user_id", "evidence_id", "point_id", "ticket_id", "grant_id",
    "incident_id",
)  # fmt: skip


def _config(tmp_path: Path, world: dict[str, list[Any]]) -> Path:
    """The committed settings, with the world's ids bound to the path parameters."""
    lines = [CONFIG.read_text()]
    for name in DRAWN:
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(world[name])}"]
    lines.append("[parameters]")
    lines += [f'"path.{name}" = {{ dictionary = "{name}", probability = 0.9 }}' for name in DRAWN]
    config = tmp_path / "schemathesis.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def _out_of_reach(api: Api, role: str) -> list[str]:
    """The operations whose declared policy refuses `role` whatever it sends: the RBAC
    matrix (`tests/security/test_rbac_matrix.py`) checks each one's refusal for every
    caller, so the run as that role spends its examples where the role gets in."""
    if role == "platform_admin":
        return []
    document = api.call("GET", "/api/v1/openapi.json").json()
    return [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if (policy := operation.get("x-darvaza-policy")) is not None
        and not (policy["anonymous"] or policy["any_user"])
        and not (role == "owner" and "owner" in policy["tenant_roles"])
    ]


def _schemathesis(
    api: Api, caller: Person, config: Path, excluded: list[str]
) -> subprocess.CompletedProcess[str]:
    base_url = str(api.http.base_url).rstrip("/")
    return subprocess.run(
        [
            sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
            base_url + "/api/v1/openapi.json",
            "--checks", "all",
            "--phases", "examples,coverage,fuzzing,stateful",
            # Five generated examples per operation in the fuzzing phase (the slowest); the
            # examples and coverage phases already reach every declared edge value.
            "--max-examples", "5",
            "--seed", "1",
            "--max-redirects", "0",
            "--exclude-path-regex", EXCLUDED,
            *(option for name in excluded for option in ("--exclude-name", name)),
            "--no-color",
        ],
        capture_output=True, text=True, timeout=600, check=False, cwd=config.parent,
        env={
            **os.environ,
            "PYTHONPATH": str(HOOKS.parent),
            "SCHEMATHESIS_HOOKS": HOOKS.stem,
            "DARVAZA_CONTRACT_URL": base_url,
            "DARVAZA_CONTRACT_EMAIL": caller.email,
            "DARVAZA_CONTRACT_PASSWORD": caller.password,
        },
    )  # fmt: skip


def _checkout(api: Api, token: str) -> tuple[dict[str, str], str]:
    """A started payment, and the mock gateway's path for it."""
    made = api.call(
        "POST", "/api/v1/tenants/acme/checkout", token=token, json={"plan_code": "gold"}
    ).json()
    return made, urlsplit(
        api.call("GET", urlsplit(made["redirect_url"]).path).headers["location"]
    ).path


def _world(api: Api, owner: Person, customer: Person, admin: Person) -> dict[str, list[Any]]:
    """Through the API: a tenant with a plan and a published item; a customer with an
        active subscription, a download link and a payment still open; staff's tokens and jobs;
    a restore point."""
    owner_token, customer_token = api.login(owner), api.login(customer)
    admin_token = api.login(admin)
    plan = api.call("GET", "/api/v1/tenants/acme/plans", token=owner_token).json()[0]
    item = api.call(
        "POST", "/api/v1/tenants/acme/content", token=owner_token, data={"title": "Report"},
        files={"file": ("report.pdf", b"%PDF-1.4 report", "application/pdf")},
    ).json()  # fmt: skip
    api.call("POST", f"/api/v1/tenants/acme/content/{item['id']}/publish", token=owner_token)
    paid, paid_page = _checkout(api, customer_token)
    page = api.call("POST", paid_page, data={"action": "pay"})
    fields = return_fields(page)
    assert api.call("POST", "/api/v1/payments/callback/mock", data=fields).status_code == 303
    (subscription,) = api.call("GET", "/api/v1/me/subscriptions", token=customer_token).json()
    link = api.call(
        "POST", f"/api/v1/tenants/acme/content/{item['id']}/download-token", token=customer_token
    ).json()
    open_, open_page = _checkout(api, customer_token)
    api_token = api.call(
        "POST", "/api/v1/admin/api-tokens", token=admin_token,
        json={"email": admin.email, "name": "contract", "expires_in_days": 30},
    ).json()  # fmt: skip
    jobs = api.call("POST", "/api/v1/admin/jobs/enqueue-ops", token=admin_token).json()
    evidence = api.call(
        "POST", "/api/v1/admin/evidence", token=admin_token,
        json={"kind": "smoke", "name": "contract", "result": "passed"},
    ).json()  # fmt: skip
    # A restore point in the server's backup folder (its settings' default, under the
    # test's own folder).
    point = create_backup(api.db, make_settings(), folder=Path(make_settings().backup_dir))
    # A customer's ticket, and a support admin's request for access to it.
    ticket = api.call(
        "POST", "/api/v1/tenants/acme/tickets", token=customer_token,
        json={"subject": "Contract", "body": "A ticket for the contract run."},
    ).json()  # fmt: skip
    support_token = api.login(person(api.db, PlatformRole.SUPPORT_ADMIN))
    grant = api.call(
        "POST", "/api/v1/support/grants", token=support_token,
        json={"tenant": "acme", "ticket_id": ticket["id"], "reason": "Contract",
              "data_classes": ["payments"]},
    ).json()  # fmt: skip
    # Two incidents: one open (every change reaches its rules) and one resolved (its
    # review is reached).
    incidents = [
        api.call("POST", "/api/v1/admin/incidents", token=admin_token,
                 json={"title": f"Contract {n}", "severity": "SEV3", "tenants": ["acme"]}
                 ).json()["id"]
        for n in range(2)
    ]  # fmt: skip
    api.call("POST", f"/api/v1/admin/incidents/{incidents[1]}/status", token=admin_token,
             json={"status": "resolved"})  # fmt: skip
    return {
        "tenant": ["acme"],
        "plan_id": [plan["id"]],
        "item_id": [item["id"]],
        "order_id": [open_["order_id"], paid["order_id"]],
        # The same name for Darvaza's payments and the mock gateway's own ids for them.
        "payment_id": [
            open_["payment_id"],
            paid["payment_id"],
            open_page.rsplit("/", 1)[-1],
            paid_page.rsplit("/", 1)[-1],
        ],
        "subscription_id": [subscription["id"]],
        "token": [urlsplit(link["url"]).path.rsplit("/", 1)[-1]],
        "token_id": [str(api_token["id"])],
        "job_id": [job for job in jobs.values() if job is not None],
        "user_id": [str(customer.user.id)],
        "evidence_id": [evidence["id"]],
        "point_id": [point.id],
        "ticket_id": [ticket["id"]],
        "grant_id": [grant["id"]],
        "incident_id": incidents,
    }


# A whole schemathesis run takes 75 to 90 s here alone; under `make test`'s two workers
# it can pass the suite's 120 s per test without anything being wrong.
@pytest.mark.timeout(300)
@pytest.mark.parametrize("role", ["platform_admin", "owner", "customer"])
def test_schemathesis_finds_nothing(api: Api, tmp_path: Path, role: str) -> None:
    owner, customer = person(api.db), person(api.db)
    tenant = create_tenant(api.db, SYSTEM, slug="acme", name="Acme", owner_email=owner.email)
    create_plan(api.db, SYSTEM, tenant_id=tenant.id, code="gold", name="Gold",
                price_rials=150_000, period_days=30)  # fmt: skip
    admin = person(api.db, PlatformRole.PLATFORM_ADMIN)
    world = _world(api, owner, customer, admin)
    caller = {"platform_admin": admin, "owner": owner, "customer": customer}[role]
    result = _schemathesis(api, caller, _config(tmp_path, world), _out_of_reach(api, role))
    found = result.stdout[result.stdout.find("FAILURES") :]
    assert result.returncode == 0, found[:6000] or result.stderr[-3000:]
    summary = result.stdout[result.stdout.find("SUMMARY") :]
    assert " passed" in summary
