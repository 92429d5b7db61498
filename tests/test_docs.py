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
