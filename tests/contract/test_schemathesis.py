"""The published contract, checked against the real server by schemathesis: as a platform
admin, a tenant's owner and a customer, every operation is called with examples, with the
edge values of every declared constraint (coverage) and with generated input (fuzzing);
every answer must be one the document declares, in its declared shape, never a 5xx, and
schema-valid input must not be refused for reasons the schema does not state.

The budget is fixed (a seed and an example count), so a run takes well under a minute per
role and fails the same way twice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from darvaza.billing.plans import create_plan
from darvaza.security.roles import PlatformRole
from darvaza.tenants.service import create_tenant
from tests.support.world import SYSTEM, Api, person

CONFIG = Path(__file__).with_name("schemathesis.toml")
# Calls that end the caller's own session, after which every other call is a 401; the
# console's pages (HTML forms for people) are checked by their own tests.
EXCLUDED = r"/auth/(logout|password|sessions/revoke-others)$|^/console"


def _schemathesis(api: Api, token: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
            str(api.http.base_url).rstrip("/") + "/api/v1/openapi.json",
            "--checks", "all",
            "--phases", "examples,coverage,fuzzing",
            "--max-examples", "10",
            "--seed", "1",
            "--max-redirects", "0",
            "--exclude-path-regex", EXCLUDED,
            "--header", f"Authorization: Bearer {token}",
            "--no-color",
        ],
        capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path,
    )  # fmt: skip


@pytest.mark.parametrize("role", ["platform_admin", "owner", "customer"])
def test_schemathesis_finds_nothing(api: Api, tmp_path: Path, role: str) -> None:
    owner, customer = person(api.db), person(api.db)
    tenant = create_tenant(api.db, SYSTEM, slug="acme", name="Acme", owner_email=owner.email)
    create_plan(api.db, SYSTEM, tenant_id=tenant.id, code="gold", name="Gold",
                price_rials=150_000, period_days=30)  # fmt: skip
    caller = {
        "platform_admin": person(api.db, PlatformRole.PLATFORM_ADMIN),
        "owner": owner,
        "customer": customer,
    }[role]
    result = _schemathesis(api, api.login(caller), tmp_path)
    found = result.stdout[result.stdout.find("FAILURES") :]
    assert result.returncode == 0, found[-6000:] or result.stderr[-3000:]
    summary = result.stdout[result.stdout.find("SUMMARY") :]
    assert " passed" in summary
