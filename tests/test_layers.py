"""The layers contract (pyproject.toml's [tool.importlinter]) holds, names every module,
and catches an import from a lower layer into a higher one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["id"] == "layers"]
    return list(contract["layers"])


def _lint(source_root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(source_root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=source_root, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_every_module_of_darvaza_is_in_a_layer() -> None:
    named = {
        name.strip().strip("()")
        for layer in _layers()
        for name in layer.replace("|", ":").split(":")
    }
    package = ROOT / "src" / "darvaza"
    found = {
        f"darvaza.{path.stem}"
        for path in package.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").exists())
    }
    assert found - named == set(), "modules without a layer"
    assert named - found == set(), "layers naming nothing"


def test_the_code_keeps_its_layers() -> None:
    result = _lint(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Darvaza's layers KEPT" in result.stdout


@pytest.mark.parametrize(
    ("module", "upward", "complaint"),
    [
        # A lower domain reaching up into a higher one.
        ("identity/models.py", "darvaza.billing.models",
         "darvaza.identity is not allowed to import darvaza.billing"),
        # The job engine learning about a domain.
        ("jobs/registry.py", "darvaza.content.storage",
         "darvaza.jobs is not allowed to import darvaza.content"),
        # The kit importing the composition root.
        ("db.py", "darvaza.assembly", "darvaza.db is not allowed to import darvaza.assembly"),
    ],
)  # fmt: skip
def test_an_upward_import_breaks_the_contract(
    tmp_path: Path, module: str, upward: str, complaint: str
) -> None:
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "darvaza", copy / "darvaza")
    target = copy / "darvaza" / module
    target.write_text(target.read_text() + f"\nimport {upward}  # noqa\n")
    result = _lint(copy)
    assert result.returncode == 1, result.stdout
    assert "Darvaza's layers BROKEN" in result.stdout
    assert complaint in result.stdout
