"""The documentation keeps up with the code: every setting is documented."""

from __future__ import annotations

import re
from pathlib import Path

from darvaza.config import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {ENV_PREFIX + name.upper() for name in Settings.model_fields}


def _names_in(path: Path) -> set[str]:
    return set(re.findall(r"\bDARVAZA_[A-Z0-9_]+\b", path.read_text(encoding="utf-8")))


def test_env_example_documents_every_setting_and_nothing_else() -> None:
    assert _names_in(ROOT / ".env.example") == SETTINGS


def test_readme_documents_every_setting() -> None:
    assert SETTINGS - _names_in(ROOT / "README.md") == set()


def test_readme_opens_with_the_two_commands() -> None:
    opening = (ROOT / "README.md").read_text(encoding="utf-8")[:1500]
    assert "make run" in opening
    assert "make test" in opening


def _section(title: str) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_settings_table_is_exactly_the_settings() -> None:
    rows = re.findall(r"^\| `(DARVAZA_[A-Z0-9_]+)` \|", _section("Configuration"), re.M)
    assert len(rows) == len(set(rows)), "a setting has two rows"
    assert set(rows) == SETTINGS


def test_the_command_table_is_exactly_the_commands() -> None:
    from tests.test_cli import COMMANDS, _is_leaf

    table = _section("The `darvaza` command")
    documented = set()
    for cell in re.findall(r"^\| (`darvaza [^|]*)\|", table, re.M):
        for phrase in re.findall(r"`darvaza ([a-z][a-z -]*?)(?: [A-Z\[-]|`)", cell):
            documented.add(tuple(phrase.split()))
    leaves = {path for path in COMMANDS if _is_leaf(path)}
    assert leaves - documented == set(), "commands missing from the README's table"
    assert documented - set(COMMANDS) == set(), "rows naming no command"


def test_the_layout_lists_every_module_and_package() -> None:
    block = _section("Layout").split("```", 2)[1]
    listed = set(re.findall(r"^  ([a-z_]+)(?:\.py|/)\s", block, re.M))
    package = ROOT / "src" / "darvaza"
    actual = {
        path.stem
        for path in package.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and path.name != "__pycache__")
    }
    assert listed == actual


def test_runbooks_name_only_real_routes() -> None:
    from darvaza.app import create_app
    from darvaza.security.policy import route_policies
    from tests.support.settings import make_settings

    routes = [
        re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", row.path) + "$")
        for row in route_policies(create_app(make_settings()))
    ]
    unknown = []
    for document in sorted((ROOT / "docs").rglob("*.md")):
        text = document.read_text(encoding="utf-8")
        for path in re.findall(
            r"(?<![\w.])(/(?:api/v1|console|payments|ready|health|metrics)[\w/{}.-]*)", text
        ):
            named = path.rstrip(".")
            if not any(route.match(named) for route in routes):
                unknown.append(f"{document.relative_to(ROOT)}: {named}")
    assert unknown == []


def test_the_checks_table_is_exactly_the_checks() -> None:
    from darvaza.assembly import CHECKS

    rows = re.findall(
        r"^\| `([a-z_]+\.[a-z_]+)` \| (\w+) \| (\d+) (min|h) \| (.+) \|$",
        _section("Ops checks and findings"),
        re.M,
    )
    documented = {
        (code, severity, int(n) * (60 if unit == "h" else 1), title)
        for code, severity, n, unit, title in rows
    }
    actual = {(c.code, c.severity, int(c.every.total_seconds() // 60), c.title) for c in CHECKS}
    assert documented == actual


def test_the_job_table_is_exactly_the_schedule() -> None:
    from darvaza.assembly import WORK

    rows = re.findall(
        r"^\| `([a-z_]+\.[a-z_]+)` \| ([^|]+) \|", _section("Jobs and the worker"), re.M
    )
    kinds = [kind for kind, _ in rows]
    assert len(kinds) == len(set(kinds)), "a job has two rows"
    assert set(kinds) == {entry.kind for entry in WORK.schedule}
    for kind, when in rows:
        (entry,) = [entry for entry in WORK.schedule if entry.kind == kind]
        if entry.setting is not None:  # the row names the setting that sets its time
            assert f"`{ENV_PREFIX}{entry.setting.upper()}`" in when, kind
