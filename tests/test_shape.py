"""The shape every domain follows (README, "Layers, and the shape of a domain"): one
service face per domain that others go through, and thin routes. The layers themselves
are import-linter's (`tests/test_layers.py`)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "darvaza"
# Domains with a service face. `operations` is a client of the HTTP API (its smoke
# checks), asked nothing by another domain; `console` is the pages' foundation, a layer
# below the domains (each domain's `pages.py` builds on it).
DOMAINS = ("audit", "billing", "content", "identity", "jobs", "ops", "support", "tenants")
# What any domain may import from another besides its face: the job engine's declaration
# types (for tasks.py), and models for foreign keys and relationships between tables.
ALSO_OPEN = ("darvaza.jobs.registry", "darvaza.jobs.schedule")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("darvaza")


def _domain_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in DOMAINS else None


def test_every_domain_has_one_service_face() -> None:
    for domain in DOMAINS:
        assert (PACKAGE / domain / "service.py").exists(), domain


def test_a_domain_asks_another_only_through_its_service(graph: grimp.ImportGraph) -> None:
    wrong = []
    for module in sorted(graph.modules):
        own = _domain_of(module)
        if own is None:
            continue
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            other = _domain_of(imported)
            if other is None or other == own or imported in ALSO_OPEN:
                continue
            if imported == f"darvaza.{other}.service":
                continue
            if module.endswith(".models") and imported.endswith(".models"):
                continue
            wrong.append(f"{module} -> {imported}")
    assert wrong == []


def _routes() -> list[Path]:
    pages = [*PACKAGE.glob("*/pages.py"), *PACKAGE.glob("*/pages/*.py")]
    return sorted([*PACKAGE.glob("*/routes.py"), *pages])


def route_problems(graph: grimp.ImportGraph, path: Path) -> list[str]:
    """A route (or page) imports its own domain's service and schemas (and other domains'
    faces), never a model or the database; it never opens a transaction or a read. Pages
    may take their domain's route dependencies too."""
    parts = path.with_suffix("").parts
    inside = parts[len(parts) - parts[::-1].index("darvaza") :]
    module = "darvaza." + ".".join(inside).removesuffix(".__init__")
    own = f"darvaza.{inside[0]}."
    is_page = "pages" in inside

    def allowed(imported: str) -> bool:
        if imported in (own + "service", own + "schemas"):
            return True
        # Pages also take their routes' dependencies, and a pages package its own modules.
        return is_page and (imported == own + "routes" or imported.startswith(own + "pages"))

    found = []
    for imported in sorted(graph.find_modules_directly_imported_by(module)):
        if imported.endswith(".models") or imported == "darvaza.db":
            found.append(f"imports {imported}")
        elif imported.startswith(own) and not allowed(imported):
            found.append(f"imports {imported}, not its service")
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("read", "transaction")
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "db"
        ):
            found.append(f"line {node.lineno} opens a session")
    return found


@pytest.mark.parametrize("path", _routes(), ids=lambda p: ".".join(p.relative_to(PACKAGE).parts))
def test_routes_are_thin(graph: grimp.ImportGraph, path: Path) -> None:
    assert route_problems(graph, path) == []


def test_the_route_check_catches_a_model_and_a_session(tmp_path: Path) -> None:
    """The check above reads the real code; this proves it fails on a route that reaches
    into models and opens a session (checked on a copy, in a process of its own)."""
    copy = tmp_path / "src"
    shutil.copytree(PACKAGE, copy / "darvaza")
    routes = copy / "darvaza" / "billing" / "routes.py"
    routes.write_text(
        routes.read_text()
        + "\nfrom darvaza.billing.models import Plan  # noqa\n"
        + "def _peek(parts: Parts) -> None:\n    with parts.db.read():\n        pass\n"
    )
    probe = (
        "import grimp, pathlib; from tests.test_shape import route_problems; "
        f"print(route_problems(grimp.build_graph('darvaza'), pathlib.Path({str(routes)!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], env={"PYTHONPATH": f"{copy}:{ROOT}"},
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert "imports darvaza.billing.models" in out
    assert "opens a session" in out


MAX_FUNCTION_LINES = 60
MAX_FILE_LINES = 500


def test_no_function_is_long_without_a_reason_and_no_file_is_too_long() -> None:
    """Past 60 lines a function says why in a `# Long because:` comment; no file in `src/`
    passes 500 lines (the migrations, written once and never read as code, aside)."""
    long_functions, long_files = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        text = path.read_text()
        if text.count("\n") > MAX_FILE_LINES:
            long_files.append(str(path.relative_to(PACKAGE)))
        lines = text.split("\n")
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            body = lines[node.lineno - 1 : node.end_lineno]
            if len(body) > MAX_FUNCTION_LINES and not any(
                line.strip().startswith("# Long because:") for line in body
            ):
                long_functions.append(f"{path.relative_to(PACKAGE)}:{node.name} ({len(body)})")
    assert long_functions == []
    assert long_files == []


def test_every_refusal_is_declared_in_an_errors_module() -> None:
    """Each `DarvazaError` lives in `darvaza/errors.py` or a domain's `errors.py` (the
    state tables' `IllegalTransition` is the kit's own), so a reader finds them there."""
    import importlib
    import pkgutil

    import darvaza
    from darvaza.errors import DarvazaError

    for module in pkgutil.walk_packages(darvaza.__path__, "darvaza."):
        if ".migrations" not in module.name and not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    found, pending = set(), [DarvazaError]
    while pending:
        for sub in pending.pop().__subclasses__():
            found.add(sub)
            pending.append(sub)
    misplaced = sorted(
        f"{cls.__module__}.{cls.__name__}"
        for cls in found
        if cls.__module__.startswith("darvaza.")
        and not cls.__module__.endswith(".errors")
        and cls.__module__ != "darvaza.states"
    )
    assert misplaced == []
