"""The deployment in docs/deploy/ is tested, not only written: Debian's nginx accepts the
site (`nginx -t`), `systemd-analyze verify` accepts the units (where systemd's tools are
installed), and the environment file names every setting production needs and passes the
production checks once its placeholders are filled. (The runbook's commands are checked
with every other document's by tests/test_cli.py.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from darvaza.config.safety import problems
from tests.support.nginx import check, configure
from tests.support.settings import make_settings

DEPLOY = Path(__file__).resolve().parent.parent / "docs" / "deploy"
VENV_DARVAZA = str(Path(sys.executable).with_name("darvaza"))


def _nginx_test(site: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    storage = tmp_path / "storage"
    storage.mkdir()
    main, _ = configure(tmp_path, storage, site=site)
    return check(main)


def test_nginx_accepts_the_shipped_site(tmp_path: Path) -> None:
    site = (DEPLOY / "nginx" / "darvaza.conf").read_text(encoding="utf-8")
    checked = _nginx_test(site, tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr
    # What the site must do, read from it: TLS, the internal files location, the
    # forwarded address and scheme Darvaza trusts from loopback.
    assert re.search(r"listen 443 ssl", site)
    assert "internal;" in site
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in site
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in site


def test_the_nginx_check_catches_a_broken_site(tmp_path: Path) -> None:
    broken = (DEPLOY / "nginx" / "darvaza.conf").read_text(encoding="utf-8")
    broken = broken.replace("internal;", "internal")
    assert _nginx_test(broken, tmp_path).returncode != 0


def _verify_units(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *sorted(str(p) for p in folder.iterdir())],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _units(tmp_path: Path) -> Path:
    folder = tmp_path / "units"
    folder.mkdir()
    for source in (DEPLOY / "systemd").iterdir():
        text = source.read_text(encoding="utf-8").replace(
            "/srv/darvaza/.venv/bin/darvaza", VENV_DARVAZA
        )
        # A template is verified as one of its instances.
        name = source.name.replace("@.service", "@4001.service")
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    folder = _units(tmp_path)
    verified = _verify_units(folder)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    worker = (folder / "darvaza-worker.service").read_text()
    assert f"ExecStart={VENV_DARVAZA} worker" in worker
    api = (DEPLOY / "systemd" / "darvaza-api@.service").read_text()
    assert "Environment=DARVAZA_PORT=%i" in api
    # A unit with a mistake is refused: the check can fail.
    (folder / "darvaza-worker.service").write_text(worker.replace("ExecStart=", "ExecStrat="))
    assert _verify_units(folder).returncode != 0


def _environment_file() -> dict[str, str]:
    found = {}
    for line in (DEPLOY / "darvaza.env").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            found[name] = value
    return found


def test_the_environment_file_is_a_safe_production_once_filled() -> None:
    file = _environment_file()
    placeholders = {n for n, v in file.items() if "<" in v}
    assert {"DARVAZA_SECRET_KEY", "DARVAZA_AUDIT_KEY", "DARVAZA_METRICS_TOKEN",
            "DARVAZA_REVISION"} <= placeholders  # fmt: skip
    filled = {}
    for name, value in file.items():
        secret = name.lower().encode().hex().ljust(48, "x")
        filled[name] = re.sub(r"<[^>]*>", secret, value)
    filled["DARVAZA_BACKUP_AGE_RECIPIENTS"] = ""  # a real age key is made by backup keygen
    settings = make_settings(**{name.removeprefix("DARVAZA_").lower(): value
                                for name, value in filled.items()})  # fmt: skip
    assert settings.profile.value == "production"
    assert problems(settings) == []
    # Each secret production needs is there to fill: without it, the checks say so.
    for needed in ("DARVAZA_SECRET_KEY", "DARVAZA_AUDIT_KEY", "DARVAZA_METRICS_TOKEN"):
        short = {k.removeprefix("DARVAZA_").lower(): v for k, v in filled.items() if k != needed}
        assert any(needed in problem for problem in problems(make_settings(**short))), needed
