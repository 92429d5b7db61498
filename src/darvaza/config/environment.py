"""Settings meet the machine: the address a server is reached at, warnings as a process
starts, `DARVAZA_*` names that are no setting, and URLs with their passwords masked."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from darvaza.config.settings import Settings

ENV_PREFIX = "DARVAZA_"


def plain_name(host: str) -> str:
    """A host name as an instance name: letters, digits, dots, dashes and underscores."""
    name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "-" for c in host)
    return name.strip("-._")[:100] or "darvaza"


def served_url(host: object, port: object) -> str:
    """The address a browser on this machine reaches a server listening on host:port at."""
    name = str(host)
    if name in ("", "0.0.0.0"):  # noqa: S104 - every IPv4 address: this machine is one of them
        name = "127.0.0.1"
    elif name == "::":
        name = "::1"
    if ":" in name:
        name = f"[{name}]"
    return f"http://{name}:{port}"


def start_warnings(
    settings: Settings, port: int, environ: dict[str, str] | None = None
) -> list[str]:
    """What `serve` and `worker` warn about as they start: settings that are probably not
    what was meant, though they are safe."""
    found = [
        f"{name} is not a Darvaza setting (a typo?); it is ignored"
        for name in unknown_environment_names(environ)
    ]
    public = urlsplit(settings.public_url)
    public_port = public.port or (443 if public.scheme == "https" else 80)
    here = {"127.0.0.1", "localhost", "::1", "0.0.0.0", "::", settings.host}  # noqa: S104
    if not settings.is_local and public.hostname in here and public_port != port:
        found.append(
            f"DARVAZA_PUBLIC_URL ({settings.public_url}) names this machine on port "
            f"{public_port}, but Darvaza serves on {port}: links and callbacks would miss it"
        )
    return found


def mask_url_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# Variables Darvaza reads that are not settings: the bootstrap password for `darvaza users
# create`, read once and never stored.
NON_SETTING_NAMES = frozenset({ENV_PREFIX + "PASSWORD"})


def unknown_environment_names(environ: dict[str, str] | None = None) -> list[str]:
    """`DARVAZA_*` variables that match no setting: usually a typo worth reporting."""
    environ = dict(os.environ) if environ is None else environ
    from darvaza.config.settings import Settings

    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields} | NON_SETTING_NAMES
    return sorted(
        name
        for name in environ
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in known
    )
