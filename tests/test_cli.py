"""The `darvaza` command: every subcommand answers --help, and the docs name only real ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from darvaza import __version__
from darvaza.cli import app as cli

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def _command_paths() -> set[tuple[str, ...]]:
    """Every command and group, as the words that reach it."""
    root = typer.main.get_command(cli)
    found: set[tuple[str, ...]] = set()

    def walk(command: object, path: tuple[str, ...]) -> None:
        found.add(path)
        for name, sub in getattr(command, "commands", {}).items():  # a group has commands
            walk(sub, (*path, name))

    walk(root, ())
    return found


COMMANDS = sorted(_command_paths())


def test_the_promised_commands_exist() -> None:
    for path in [("serve",), ("migrate",), ("config", "check"), ("audit", "verify"), ("version",)]:
        assert path in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "darvaza")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = runner.invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_serve_help_shows_its_defaults_and_the_variables_that_set_them() -> None:
    shown = runner.invoke(cli, ["serve", "--help"]).output.replace("│", " ")
    output = " ".join(shown.split())  # the help is boxed and wrapped
    for option, default in (
        ("--host", "$DARVAZA_HOST, else 127.0.0.1"),
        ("--port", "$DARVAZA_PORT, else 4000"),
        ("--workers", "$DARVAZA_SERVE_WORKERS, else 1"),
    ):
        assert option in output
        assert default in output


def test_version_is_an_option_too() -> None:
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == runner.invoke(cli, ["version"]).output.strip()


def test_version() -> None:
    result = runner.invoke(cli, ["version"])
    assert result.exit_code == 0
    assert result.output.startswith(f"darvaza {__version__}")


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _named_commands(text: str) -> list[tuple[str, ...]]:
    """`darvaza word word ...` as written in the docs, up to the first option or argument."""
    found = []
    for match in re.finditer(r"\bdarvaza((?: [a-z][a-z-]*)+)", text):
        words = tuple(match.group(1).split())
        found.append(words)
    return found


def test_docs_name_only_real_commands() -> None:
    real = set(COMMANDS)
    unknown = []
    for document in _documents():
        for words in _named_commands(document.read_text(encoding="utf-8")):
            # The longest prefix that is a command must be the whole phrase, unless what
            # follows is an argument of a leaf command (lower-case prose is not allowed).
            prefix = max((words[:n] for n in range(len(words) + 1) if words[:n] in real), key=len)
            if prefix != words and not _is_leaf(prefix):
                unknown.append(f"{document.relative_to(ROOT)}: darvaza {' '.join(words)}")
    assert unknown == []


def _is_leaf(path: tuple[str, ...]) -> bool:
    return path != () and not any(
        other[: len(path)] == path and other != path for other in COMMANDS
    )


def test_the_docs_check_catches_a_made_up_command() -> None:
    words = _named_commands("Run `darvaza frobnicate explode` now.")[0]
    assert words not in set(COMMANDS)
    prefix = max((words[:n] for n in range(len(words) + 1) if words[:n] in COMMANDS), key=len)
    assert prefix == ()


def test_the_servers_connections_send_without_waiting() -> None:
    """What `darvaza serve` listens on gives connections with Nagle off (TCP_NODELAY):
    asyncio sets it only where the socket says TCP, and without it a keep-alive client
    waited 40 ms on every request (a response's second write held for a delayed ACK)."""
    import asyncio
    import socket
    import threading

    from darvaza.cli.serve import _listen

    listening = _listen("127.0.0.1", 0)
    seen: list[int] = []

    async def handle(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(
            writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        )
        writer.close()

    async def connect_once() -> None:
        server = await asyncio.start_server(handle, sock=listening)
        async with server:
            reader, writer = await asyncio.open_connection(*listening.getsockname())
            await reader.read()
            writer.close()

    # Its own thread: a session's Playwright browser keeps an event loop running on
    # this worker's main thread, where asyncio.run refuses to start.
    runner = threading.Thread(target=asyncio.run, args=(connect_once(),))
    runner.start()
    runner.join(timeout=10)
    assert seen == [1]


@pytest.mark.parametrize("factory", ["api_process_app()", "serving_app(None)"])
def test_the_served_app_keeps_its_start_up_heap_out_of_the_collector(
    factory: str, tmp_path: Path
) -> None:
    """Start-up's objects (some 200,000) frozen: a full collection walking them paused
    whichever request set it off for ~80 ms, the ops summary's p99. Run in a process of
    its own, as `darvaza serve` runs it: a frozen heap stays frozen."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("DARVAZA_")}
    env.update(
        DARVAZA_DATABASE_URL=f"sqlite:///{tmp_path / 'd.sqlite3'}",
        DARVAZA_STORAGE_DIR=str(tmp_path / "storage"),
    )  # fmt: skip
    script = (
        "import gc\nfrom darvaza.cli.serve import api_process_app, serving_app\n"
        f"before = gc.get_freeze_count()\n{factory}\n"
        "print(before, gc.get_freeze_count())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    before, after = map(int, done.stdout.split())
    assert before == 0
    assert after > 50_000  # the libraries, the app and its routes
