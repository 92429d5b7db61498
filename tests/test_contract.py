"""The committed contract snapshot is what the server publishes, and `make contracts`
refuses a change that breaks its clients unless the version says so."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from darvaza.contract import SNAPSHOT, breaking_changes, check, compatibility_line, render
from tests.support.world import Api

ROOT = Path(__file__).resolve().parents[1]
Document = dict[str, Any]


@pytest.fixture(scope="module")
def snapshot() -> Document:
    return dict(json.loads(SNAPSHOT.read_text()))


def test_the_snapshot_is_what_the_server_publishes(api: Api, snapshot: Document) -> None:
    assert api.call("GET", "/api/v1/openapi.json").json() == snapshot
    assert render(snapshot) == SNAPSHOT.read_text()


def _remove_route(d: Document) -> None:
    del d["paths"]["/api/v1/tenants/{tenant}/plans"]["post"]


def _remove_answer_field(d: Document) -> None:
    del d["components"]["schemas"]["PlanOut"]["properties"]["code"]


def _narrow_a_type(d: Document) -> None:
    d["components"]["schemas"]["PlanIn"]["properties"]["price_rials"]["maximum"] = 1000


def _new_required_field(d: Document) -> None:
    plan_in = d["components"]["schemas"]["PlanIn"]
    plan_in["properties"]["currency"] = {"type": "string"}
    plan_in["required"].append("currency")


def _new_required_parameter(d: Document) -> None:
    d["paths"]["/api/v1/admin/audit"]["get"]["parameters"].append(
        {"name": "reason", "in": "query", "required": True, "schema": {"type": "string"}}
    )


def _answer_may_be_null(d: Document) -> None:
    d["components"]["schemas"]["PlanOut"]["properties"]["code"] = {
        "anyOf": [{"type": "string"}, {"type": "null"}]
    }


BREAKING: dict[str, tuple[Callable[[Document], None], str]] = {
    "removed route": (_remove_route, "POST /api/v1/tenants/{tenant}/plans: removed"),
    "removed field": (_remove_answer_field, ".code: removed from the answer"),
    "narrowed type": (_narrow_a_type, ".price_rials: maximum lowered to 1000"),
    "new required field": (_new_required_field, ".currency: a new required field"),
    "new required parameter": (_new_required_parameter, "parameter 'reason': newly required"),
    "widened answer": (_answer_may_be_null, ".code: may now be null"),
}


@pytest.mark.parametrize("kind", sorted(BREAKING))
def test_a_breaking_change_fails_unless_the_version_says_so(
    snapshot: Document, tmp_path: Path, kind: str
) -> None:
    change, named = BREAKING[kind]
    new = copy.deepcopy(snapshot)
    change(new)
    recorded = tmp_path / "openapi.json"
    recorded.write_text(render(snapshot))
    assert any(named in line for line in breaking_changes(snapshot, new)), kind

    refused = check(recorded, document=new)
    assert "does not say so" in refused[0]
    assert any(named in line for line in refused)

    # A new minor version before 1.0 (a new major one after) may break clients; the
    # snapshot must then be recorded like any other change, and the check passes.
    major, minor, *_ = (int(part) for part in snapshot["info"]["version"].split("."))
    new["info"]["version"] = f"0.{minor + 1}.0" if major == 0 else f"{major + 1}.0.0"
    behind = check(recorded, document=new)
    assert "is behind" in behind[0]
    assert "as the new version says" in behind[0]
    recorded.write_text(render(new))
    assert check(recorded, document=new) == []


def test_additions_are_not_breaking_but_must_be_recorded(
    snapshot: Document, tmp_path: Path
) -> None:
    new = copy.deepcopy(snapshot)
    new["components"]["schemas"]["PlanOut"]["properties"]["currency"] = {"type": "string"}
    new["paths"]["/api/v1/extra"] = {"get": {"responses": {"200": {"description": "ok"}}}}
    new["components"]["schemas"]["PlanIn"]["properties"]["note"] = {"type": "string"}
    assert breaking_changes(snapshot, new) == []
    recorded = tmp_path / "openapi.json"
    recorded.write_text(render(snapshot))
    assert "is behind" in check(recorded, document=new)[0]


def test_widening_what_a_request_takes_is_not_breaking(snapshot: Document) -> None:
    new = copy.deepcopy(snapshot)
    del new["components"]["schemas"]["PlanIn"]["properties"]["code"]["pattern"]
    new["components"]["schemas"]["PlanIn"]["properties"]["price_rials"]["maximum"] *= 10
    assert breaking_changes(snapshot, new) == []
    assert breaking_changes(new, snapshot) != []  # and the way back narrows it


def test_compatibility_lines() -> None:
    assert compatibility_line("0.1.0") == compatibility_line("0.1.7") != compatibility_line("0.2.0")
    assert compatibility_line("1.2.0") == compatibility_line("1.9.3") != compatibility_line("2.0.0")


def test_make_contracts_fails_on_a_breaking_change(snapshot: Document, tmp_path: Path) -> None:
    # An older snapshot with a route the code no longer has: the code removed it.
    old = copy.deepcopy(snapshot)
    old["paths"]["/api/v1/tenants/{tenant}/plans"]["put"] = copy.deepcopy(
        old["paths"]["/api/v1/tenants/{tenant}/plans"]["post"]
    )
    recorded = tmp_path / "openapi.json"
    recorded.write_text(render(old))
    for schema in SNAPSHOT.parent.glob("ops-summary.v*.schema.json"):  # recorded beside it
        (tmp_path / schema.name).write_text(schema.read_text())
    ran = subprocess.run(
        ["make", "-s", "contracts", f"CONTRACT_SNAPSHOT={recorded}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert ran.returncode != 0
    assert "PUT /api/v1/tenants/{tenant}/plans: removed" in ran.stderr
    recorded.write_text(render(snapshot))
    passed = subprocess.run(
        ["make", "-s", "contracts", f"CONTRACT_SNAPSHOT={recorded}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert passed.returncode == 0, passed.stderr
