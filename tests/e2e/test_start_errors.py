"""What a new operator sees when `darvaza serve` or `darvaza worker` cannot start: one line
that says what is wrong and how to fix it, exit 1, and nothing left behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL, _service_param
from tests.e2e.test_serve import _free_port


def _darvaza(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DARVAZA_")}
    return subprocess.run(
        [sys.executable, "-m", "darvaza.cli", *args],
        cwd=tmp_path, env={**clean, **env}, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("command", [["serve"], ["worker"]])
def test_a_database_that_refuses_the_connection(tmp_path: Path, command: list[str]) -> None:
    url = f"postgresql+psycopg://darvaza@127.0.0.1:{_free_port()}/darvaza"
    said = _one_line(_darvaza(tmp_path, *command, DARVAZA_DATABASE_URL=url))
    assert said.startswith("Nothing answers at 127.0.0.1:")
    assert "is PostgreSQL running there?" in said


@pytest.mark.parametrize("backend", [_service_param("postgresql")])
def test_a_database_that_does_not_exist_or_a_user_it_refuses(tmp_path: Path, backend: str) -> None:
    assert backend == "postgresql"
    missing = POSTGRES_URL.set(database="darvaza_no_such_database")
    said = _one_line(
        _darvaza(tmp_path, "serve", DARVAZA_DATABASE_URL=missing.render_as_string(False))
    )
    assert "The database 'darvaza_no_such_database' does not exist" in said
    assert "createdb" in said
    stranger = POSTGRES_URL.set(username="darvaza_no_such_role")
    said = _one_line(
        _darvaza(tmp_path, "serve", DARVAZA_DATABASE_URL=stranger.render_as_string(False))
    )
    assert "The database refused the user 'darvaza_no_such_role'" in said


def test_a_sqlite_path_whose_folder_is_missing_is_an_error(tmp_path: Path) -> None:
    said = _one_line(
        _darvaza(tmp_path, "serve", DARVAZA_DATABASE_URL="sqlite:///./varr/darvaza.db")
    )
    assert "./varr/darvaza.db" in said
    assert "does not exist" in said
    assert not (tmp_path / "varr").exists()  # no new, empty platform


def test_a_busy_port_is_one_line_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        said = _one_line(_darvaza(tmp_path, "serve", DARVAZA_PORT=str(port)))
    assert said.startswith(f"Port {port} on 127.0.0.1 is in use")
    assert not (tmp_path / "var").exists()  # no database made, no worker row left behind


@pytest.mark.parametrize("command", [["serve", "--port", "1"], ["worker"]])
def test_names_that_are_not_settings_are_warned_about(tmp_path: Path, command: list[str]) -> None:
    # The misspelt database URL would quietly leave the default in force; both commands say
    # so before anything else (here they then stop: port 1 is not ours, the folder absent).
    result = _darvaza(
        tmp_path, *command, DARVAZA_DATABSE_URL="postgresql://x/y",
        DARVAZA_DATABASE_URL="sqlite:///./missing/darvaza.db",
    )  # fmt: skip
    assert result.stderr.splitlines()[0] == (
        "warning: DARVAZA_DATABSE_URL is not a Darvaza setting (a typo?); it is ignored"
    )
