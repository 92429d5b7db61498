"""The published contract (/api/v1/openapi.json) says what the API really takes and
answers: every path parameter, every refusal a policy can give, in the one error shape."""

from __future__ import annotations

import re
from typing import Any

import pytest

from darvaza.app import create_app
from darvaza.security.policy import route_policies
from tests.support.settings import make_settings

ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(make_settings()).openapi()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_every_path_parameter_is_declared(document: dict[str, Any]) -> None:
    """A generated client cannot call an operation whose `{tenant}` it was never told of."""
    missing = []
    for method, path, operation in _operations(document):
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        for name in re.findall(r"{([^}]+)}", path):
            if name not in declared:
                missing.append(f"{method} {path}: {name}")
    assert missing == []


def test_every_refusal_a_policy_can_give_is_declared_in_the_error_shape(
    document: dict[str, Any],
) -> None:
    app = create_app(make_settings())
    checked = 0
    for row in route_policies(app):
        operation = document["paths"].get(row.path, {}).get(row.method.lower())
        if operation is None or row.policy is None:
            continue
        for status in row.policy.refusals():
            response = operation["responses"].get(str(status))
            assert response is not None, f"{row.method} {row.path} does not declare {status}"
            if status >= 400:
                assert response["content"]["application/json"]["schema"] == ERROR_REF
        checked += 1
    assert checked > 50
    page = document["paths"]["/console/"]["get"]["responses"]
    assert "303" in page  # a page sends the signed-out to sign in, rather than a 401 ...
    assert "bearer token" in page["401"]["description"]  # ... unless a bad token was sent


def test_every_error_answer_has_the_one_shape(document: dict[str, Any]) -> None:
    """Every error answer is the error shape, but a page's own (the payment result's 404,
    a page for the payer) which says it is HTML."""
    pages = 0
    for method, path, operation in _operations(document):
        for status, response in operation["responses"].items():
            if not status.startswith(("4", "5")):
                continue
            if set(response["content"]) == {"text/html"}:
                pages += 1
                continue
            schema = response["content"]["application/json"]["schema"]
            assert schema == ERROR_REF, f"{method} {path} {status}"
    assert pages == 1
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["ErrorOut"]["required"]) == {"error"}
    assert {"code", "message", "request_id"} <= set(schemas["ErrorInfo"]["required"])


def test_a_tenant_scoped_operation_takes_the_tenant_as_its_policy_declares(
    document: dict[str, Any],
) -> None:
    (tenant,) = [
        p
        for p in document["paths"]["/api/v1/tenants/{tenant}/plans"]["post"]["parameters"]
        if p["name"] == "tenant"
    ]
    assert (tenant["in"], tenant["required"], tenant["schema"]["maxLength"]) == ("path", True, 63)


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    """A generated client names a method after each; two alike and one is lost."""
    ids = [operation["operationId"] for _, _, operation in _operations(document)]
    assert len(ids) == len(set(ids))
