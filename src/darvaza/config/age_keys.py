"""age keys as the settings hold them: recipients (public, `age1...`) to seal restore
points, identities (secret, `AGE-SECRET-KEY-1...`) to open them."""

from __future__ import annotations

import re

import pyrage
from pyrage import x25519


class AgeKeyError(ValueError):
    """A value that is not the key it should be (a ValueError: settings show it as such)."""


def parse_recipients(value: str) -> list[x25519.Recipient]:
    """Recipients separated by commas, spaces or new lines; the first that is not one,
    named."""
    found = []
    for word in (w for w in re.split(r"[\s,]+", value) if w):
        try:
            found.append(x25519.Recipient.from_str(word))
        except pyrage.RecipientError as exc:
            shown = word if len(word) <= 16 else f"{word[:12]}..."
            raise AgeKeyError(f"{shown!r} is not an age recipient (age1...): {exc}") from None
    return found


def parse_identities(value: str) -> list[x25519.Identity]:
    """Identities, one per line as age-keygen writes them (`#` lines are comments). The
    error never repeats the value: it is a secret."""
    found = []
    for number, raw in enumerate(value.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            found.append(x25519.Identity.from_str(line))
        except pyrage.IdentityError:
            raise AgeKeyError(
                f"line {number} is not an age identity (AGE-SECRET-KEY-1...)"
            ) from None
    return found
