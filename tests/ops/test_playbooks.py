"""Every ops check has a playbook saying what it means, who owns it, what to do first (in
fifteen minutes for critical and high ones), how to confirm, fix and verify; the summary
quotes its first steps. (That playbooks name only real commands and routes is
tests/test_cli.py's and tests/test_docs.py's, for every document.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from darvaza.assembly import CHECKS
from darvaza.checks import CODE_PATTERN, Check
from darvaza.ops.summary import first_steps

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "docs" / "playbooks"


def _sections(text: str) -> list[str]:
    return [line[3:].strip() for line in text.splitlines() if line.startswith("## ")]


@pytest.mark.parametrize("check", list(CHECKS), ids=lambda check: check.code)
def test_every_check_has_a_playbook(check: Check) -> None:
    assert re.match(CODE_PATTERN, check.code)
    path = ROOT / check.playbook
    assert path.exists(), f"{check.code} has no playbook at {check.playbook}"
    text = path.read_text(encoding="utf-8")
    assert text.startswith(f"# {check.code}: ")
    assert f"\nSeverity: {check.severity}\n" in text
    assert f"\nOwner: {check.owner}\n" in text
    first = "First fifteen minutes" if check.severity in ("critical", "high") else "First steps"
    assert _sections(text) == [
        "What it means", first, "How to confirm", "How to fix", "How to verify",
    ]  # fmt: skip
    steps = first_steps(check.code)
    assert len(steps) >= 2, f"{check.code}: numbered first steps"
    assert all(step.strip() for step in steps)


def test_no_playbook_is_left_without_a_check() -> None:
    codes = {check.code for check in CHECKS}
    assert {path.stem for path in PLAYBOOKS.glob("*.md")} == codes
