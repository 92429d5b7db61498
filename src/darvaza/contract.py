"""The API contract's committed snapshot, and the check that a change to it keeps every
client working.

`python -m darvaza.contract check` (what `make contracts` runs) compares the document the
code publishes with `docs/api/openapi.json`. A change a client built on the snapshot
would trip over is refused unless the version says it breaks compatibility (a new major
version; a new minor one before 1.0): a removed route or success answer, a removed or
newly optional answer field, a widened answer type, a new required parameter or body
field, a narrowed parameter or body type, a constraint tightened. Any other difference
only means the snapshot is behind: `python -m darvaza.contract update` records it, so
every change to the contract shows in review as a change to the snapshot.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).resolve().parents[2] / "docs" / "api" / "openapi.json"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# Bounds that a request may no longer reach when they move this way (upper bounds down,
# lower bounds up); an answer is free to move them either way inside its type.
UPPER_BOUNDS = ("maxLength", "maxItems", "maximum", "exclusiveMaximum")
LOWER_BOUNDS = ("minLength", "minItems", "minimum", "exclusiveMinimum")

Schema = dict[str, Any]


def published_document() -> dict[str, Any]:
    """The document `darvaza serve` publishes at /api/v1/openapi.json."""
    from darvaza.app import create_app
    from darvaza.config import Settings

    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(
            _env_file=None,
            profile="local",
            database_url=f"sqlite:///{scratch}/contract.db",
            storage_dir=f"{scratch}/content",
        )
        return create_app(settings, run_worker=False).openapi()


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def compatibility_line(version: str) -> tuple[int, ...]:
    """The part of a semantic version that must change for a breaking change."""
    release = version.split("+", maxsplit=1)[0]
    parts = [int(p) if p.isdigit() else 0 for p in release.split(".")[:2]]
    major, minor = [*parts, 0, 0][:2]
    return (major,) if major >= 1 else (0, minor)


class _Diff:
    def __init__(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.old, self.new = old, new
        self.found: list[str] = []
        self._seen: set[tuple[int, int, str]] = set()

    def _resolve(self, document: dict[str, Any], schema: Schema) -> Schema:
        while "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema = document["components"]["schemas"][name]
        return schema

    def _variants(self, document: dict[str, Any], schema: Schema) -> list[Schema]:
        schema = self._resolve(document, schema)
        options = schema.get("anyOf") or schema.get("oneOf")
        if not options:
            return [schema]
        return [v for o in options for v in self._variants(document, o)]

    def _types(self, variants: list[Schema]) -> set[str] | None:
        """The JSON types a schema allows; None when any value is allowed."""
        types: set[str] = set()
        for variant in variants:
            declared = variant.get("type")
            if declared is None:
                if "const" in variant or "enum" in variant:
                    values = variant.get("enum", [variant.get("const")])
                    types |= {_json_type(v) for v in values}
                    continue
                if "properties" in variant:
                    types.add("object")
                    continue
                return None
            types |= set(declared) if isinstance(declared, list) else {declared}
        if "number" in types:
            types.add("integer")
        return types

    def schema(self, where: str, old: Schema, new: Schema, *, request: bool) -> None:
        """`request`: the new schema must accept everything the old one did. Otherwise (an
        answer) it must promise everything the old one did."""
        key = (id(old), id(new), "request" if request else "answer")
        if key in self._seen:  # recursive schemas
            return
        self._seen.add(key)
        old_variants = self._variants(self.old, old)
        new_variants = self._variants(self.new, new)
        old_types, new_types = self._types(old_variants), self._types(new_variants)
        if request and new_types is not None and (old_types is None or old_types - new_types):
            lost = "any" if old_types is None else ", ".join(sorted(old_types - new_types))
            self.found.append(f"{where}: no longer takes {lost}")
        if not request and old_types is not None and (new_types is None or new_types - old_types):
            more = "any" if new_types is None else ", ".join(sorted(new_types - old_types))
            self.found.append(f"{where}: may now be {more}")
        old_one, new_one = _main(old_variants), _main(new_variants)
        self._constraints(where, old_one, new_one, request=request)
        if "object" in (old_types or set()) | (new_types or set()):
            self._object(where, _object(old_variants), _object(new_variants), request=request)
        if "array" in (old_types or set()) and "items" in old_one and "items" in new_one:
            self.schema(f"{where}[]", old_one["items"], new_one["items"], request=request)

    def _constraints(self, where: str, old: Schema, new: Schema, *, request: bool) -> None:
        old_enum, new_enum = old.get("enum"), new.get("enum")
        if request:
            if new_enum is not None and (old_enum is None or set(old_enum) - set(new_enum)):
                self.found.append(f"{where}: takes fewer values than before")
            for bound in UPPER_BOUNDS:
                if bound in new and (bound not in old or new[bound] < old[bound]):
                    self.found.append(f"{where}: {bound} lowered to {new[bound]}")
            for bound in LOWER_BOUNDS:
                if bound in new and (bound not in old or new[bound] > old[bound]):
                    self.found.append(f"{where}: {bound} raised to {new[bound]}")
            for rule in ("pattern", "format"):
                if rule in new and new[rule] != old.get(rule):
                    self.found.append(f"{where}: a new {rule} {new[rule]!r}")
        elif old_enum is not None and (new_enum is None or set(new_enum) - set(old_enum)):
            self.found.append(f"{where}: may now be a value clients do not know")

    def _object(self, where: str, old: Schema, new: Schema, *, request: bool) -> None:
        old_fields, new_fields = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        if request:
            for name in sorted(new_required - old_required):
                self.found.append(f"{where}.{name}: a new required field")
            if new.get("additionalProperties") is False:
                for name in sorted(set(old_fields) - set(new_fields)):
                    self.found.append(f"{where}.{name}: no longer taken")
        else:
            for name in sorted(set(old_fields) - set(new_fields)):
                self.found.append(f"{where}.{name}: removed from the answer")
            for name in sorted((old_required - new_required) & set(new_fields)):
                self.found.append(f"{where}.{name}: may now be missing from the answer")
        for name in sorted(set(old_fields) & set(new_fields)):
            self.schema(f"{where}.{name}", old_fields[name], new_fields[name], request=request)

    def operation(self, name: str, old: Schema, new: Schema) -> None:
        old_params = {(p["in"], p["name"]): p for p in old.get("parameters", [])}
        new_params = {(p["in"], p["name"]): p for p in new.get("parameters", [])}
        for key, param in new_params.items():
            where = f"{name} {key[0]} parameter {key[1]!r}"
            if param.get("required") and not old_params.get(key, {}).get("required"):
                self.found.append(f"{where}: newly required")
            if key in old_params:
                self.schema(
                    where, old_params[key].get("schema", {}), param.get("schema", {}), request=True
                )
        old_body, new_body = old.get("requestBody"), new.get("requestBody")
        if new_body is not None:
            if new_body.get("required") and not (old_body or {}).get("required"):
                self.found.append(f"{name}: a body is now required")
            old_content = (old_body or {}).get("content", {})
            for media, content in old_content.items():
                if media not in new_body.get("content", {}):
                    self.found.append(f"{name}: no longer takes a {media} body")
                    continue
                self.schema(
                    f"{name} body",
                    content.get("schema", {}),
                    new_body["content"][media].get("schema", {}),
                    request=True,
                )
        for status, answer in old.get("responses", {}).items():
            if not status.startswith("2"):
                continue
            if status not in new.get("responses", {}):
                self.found.append(f"{name}: no longer answers {status}")
                continue
            new_content = new["responses"][status].get("content", {})
            for media, content in answer.get("content", {}).items():
                if media not in new_content:
                    self.found.append(f"{name} {status}: no longer answers {media}")
                    continue
                self.schema(
                    f"{name} {status}",
                    content.get("schema", {}),
                    new_content[media].get("schema", {}),
                    request=False,
                )


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if value is None:
        return "null"
    return "string" if isinstance(value, str) else type(value).__name__


def _main(variants: list[Schema]) -> Schema:
    """The variant that carries the constraints (the one that is not null)."""
    for variant in variants:
        if variant.get("type") != "null":
            return variant
    return variants[0]


def _object(variants: list[Schema]) -> Schema:
    for variant in variants:
        if variant.get("type") == "object" or "properties" in variant:
            return variant
    return {}


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, Schema]]:
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Everything in `new` that a client written against `old` could trip over."""
    diff = _Diff(old, new)
    new_operations = dict(_operations(new))
    for name, operation in _operations(old):
        if name not in new_operations:
            diff.found.append(f"{name}: removed")
        else:
            diff.operation(name, operation, new_operations[name])
    return diff.found


def check(snapshot: Path = SNAPSHOT, document: dict[str, Any] | None = None) -> list[str]:
    """What stops this contract from being recorded over the snapshot; empty if nothing."""
    new = document if document is not None else published_document()
    if not snapshot.exists():
        return [f"There is no snapshot at {snapshot}: record one with `make contracts-update`."]
    recorded = snapshot.read_text()
    old = json.loads(recorded)
    broken = breaking_changes(old, new)
    old_version, new_version = old["info"]["version"], new["info"]["version"]
    if broken and compatibility_line(old_version) == compatibility_line(new_version):
        return [
            f"The contract breaks clients of {old_version}, and {new_version} does not say so "
            "(raise the major version, or the minor one before 1.0):",
            *(f"  - {change}" for change in broken),
        ]
    if render(new) != recorded:
        return [
            f"The contract changed and {snapshot} is behind: record it with "
            "`make contracts-update`, and commit it with the change."
            + (" It breaks clients, as the new version says:" if broken else ""),
            *(f"  - {change}" for change in broken),
        ]
    return []


# --- The ops summary's JSON Schema, one committed file per schema_version ------------------


def summary_schema_path(version: str, folder: Path = SNAPSHOT.parent) -> Path:
    return folder / f"ops-summary.v{version}.schema.json"


def summary_schema() -> tuple[str, dict[str, Any]]:
    """The summary's version and the JSON Schema its answer follows."""
    from darvaza.ops.schemas import SummaryOut
    from darvaza.ops.summary import SCHEMA_VERSION

    schema = SummaryOut.model_json_schema()
    schema["$id"] = f"https://darvaza.example/schemas/ops-summary.v{SCHEMA_VERSION}.json"
    return SCHEMA_VERSION, schema


def summary_schema_problems(folder: Path = SNAPSHOT.parent) -> list[str]:
    """The schema of a published `schema_version` never changes: a new shape needs a new
    version, and each version's schema is committed."""
    version, schema = summary_schema()
    path = summary_schema_path(version, folder)
    if not path.exists():
        return [f"The ops summary's schema v{version} is not recorded: `make contracts-update`."]
    if path.read_text() != render(schema):
        return [
            f"The ops summary's shape differs from {path.name}: a published schema never "
            "changes. Raise SCHEMA_VERSION (ops/summary.py, and the Literal of "
            "SummaryOut.schema_version), then record it with `make contracts-update`."
        ]
    return []


def record_summary_schema(folder: Path = SNAPSHOT.parent) -> Path:
    """Write the current version's schema, unless that version is already recorded with
    another shape (which `summary_schema_problems` explains)."""
    version, schema = summary_schema()
    path = summary_schema_path(version, folder)
    if not path.exists():
        path.write_text(render(schema))
    return path


def main(argv: list[str]) -> int:
    command, *rest = argv or ["check"]
    snapshot = Path(rest[1]) if rest[:1] == ["--snapshot"] and len(rest) == 2 else SNAPSHOT
    if command not in ("check", "update") or (rest and snapshot is SNAPSHOT):
        print("usage: python -m darvaza.contract check|update [--snapshot PATH]", file=sys.stderr)
        return 2
    if command == "update":
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        snapshot.write_text(render(published_document()))
        print(f"recorded {snapshot} and {record_summary_schema(snapshot.parent)}")
        problems = summary_schema_problems(snapshot.parent)
        for line in problems:
            print(line, file=sys.stderr)
        return 1 if problems else 0
    problems = check(snapshot) + summary_schema_problems(snapshot.parent)
    for line in problems:
        print(line, file=sys.stderr)
    if not problems:
        print(f"the contract matches {snapshot}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
