"""The Prometheus rules shipped in docs/monitoring/ are valid (`promtool check rules`, from
Debian's prometheus package) and name only metrics Darvaza exposes."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.support.world import Api

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs" / "monitoring" / "darvaza.rules.yml"


def _promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: install Debian's prometheus package (make test does)"
    return found


def _check(path: Path) -> subprocess.CompletedProcess[str]:
    command = [_promtool(), "check", "rules", str(path)]
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)


def test_promtool_accepts_the_rules() -> None:
    checked = _check(RULES)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 9 rules found" in checked.stdout


def test_promtool_refuses_a_broken_rule(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(RULES.read_text().replace("> 0", "> > 0", 1))
    assert _check(broken).returncode != 0


def test_the_rules_name_only_metrics_darvaza_exposes(api: Api) -> None:
    exposed = set(re.findall(r"^# TYPE (\w+) ", api.call("GET", "/metrics").text, re.M))
    rules = yaml.safe_load(RULES.read_text())
    named = {
        name
        for group in rules["groups"]
        for rule in group["rules"]
        for name in re.findall(r"\b(darvaza_\w+)", rule["expr"])
    }
    assert named
    assert named - exposed == set()
