"""The contract says who may call what: each operation carries its policy and the
refusals that policy (and the operation's shape) can answer with, in the one error shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from darvaza.errors import HTML_PAGE, PAGES_PREFIX, ErrorOut
from darvaza.security.policy import route_policies


def annotate_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """An `openapi()` that adds to each operation its policy (`x-darvaza-policy`, so
    clients and `darvaza smoke rbac-admin` read who may call what from the running server)
    and the refusals that policy can answer with, in the one error shape, which also
    replaces FastAPI's own shape for 422."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        error_ref = _add_error_schema(schema)
        for row in route_policies(app):
            operation = schema.get("paths", {}).get(row.path, {}).get(row.method.lower())
            if operation is None or row.policy is None:
                continue
            operation["x-darvaza-policy"] = row.policy.describe()
            responses = operation.setdefault("responses", {})
            refusals = {**row.policy.refusals(), **_refusals_of_shape(operation)}
            for status, why in refusals.items():
                responses.setdefault(str(status), {"description": why})
            page = row.path.startswith(PAGES_PREFIX)
            for status, response in responses.items():
                # The error shape, unless the route says the answer is something else (a page).
                if status.startswith(("4", "5")) and set(response.get("content", {})) <= {
                    "application/json"
                }:
                    shape = {"application/json": {"schema": error_ref}}
                    response["content"] = {**HTML_PAGE, **shape} if page else shape
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
        return schema

    return openapi


# What any operation with a body can be answered, before the route runs.
BODY_REFUSALS = {
    400: "The body could not be read (it is not UTF-8 text).",
    413: "The body is larger than this route accepts.",
    415: "The body is not in the media type this route reads.",
}


def _refusals_of_shape(operation: dict[str, Any]) -> dict[int, str]:
    """Refusals that follow from an operation's shape: a body can be unreadable, too large
    or of the wrong type; an id in the path can name nothing."""
    found = dict(BODY_REFUSALS) if "requestBody" in operation else {}
    names = [p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"]
    if names:
        found[404] = "Nothing has this " + " and ".join(f"`{name}`" for name in names) + "."
    return found


def _add_error_schema(schema: dict[str, Any]) -> dict[str, str]:
    shape = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(shape.pop("$defs", {}))
    components["ErrorOut"] = shape
    return {"$ref": "#/components/schemas/ErrorOut"}
