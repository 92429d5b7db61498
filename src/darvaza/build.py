"""What is running, and where: the version, the revision and the instance. Evidence of
every operational run, the ops summary and the status report carry it, so a reader can
tell a staging run from a local one and one build from the next."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from darvaza import __version__
from darvaza.config import Settings

SOURCE_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Instance:
    profile: str
    name: str
    version: str
    revision: str | None

    @classmethod
    def of(cls, settings: Settings) -> Instance:
        return cls(
            profile=settings.profile.value,
            name=settings.instance_name,
            version=__version__,
            revision=settings.revision or git_revision(),
        )


@cache
def git_revision(root: Path = SOURCE_ROOT) -> str | None:
    """The commit of the checkout Darvaza runs from, `-dirty` when tracked files differ
    from it; None when it does not run from a checkout (or git is missing)."""
    git = shutil.which("git")
    if git is None or not (root / ".git").exists():
        return None
    try:
        # The arguments are ours, the program the one on PATH: nothing untrusted runs.
        head = subprocess.run(  # noqa: S603
            [git, "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
        changed = subprocess.run(  # noqa: S603
            [git, "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if changed else head or None
