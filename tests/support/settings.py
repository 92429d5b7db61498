"""Settings for tests: from arguments only, never the environment or a .env file."""

from __future__ import annotations

from darvaza.config import Settings


def make_settings(**overrides: object) -> Settings:
    return Settings(_env_file=None, **overrides)  # type: ignore[call-arg]
