"""Operations' refusals, in the one error shape."""

from __future__ import annotations

from darvaza.errors import InvalidInput


class EvidenceRefused(InvalidInput):
    """Evidence that cannot be recorded as given: its details are too large, or its times
    are out of order."""


class BackupError(Exception):
    """A restore point that cannot be made, found, opened or trusted; the message names
    the part. Said by the commands and recorded as evidence, never an HTTP answer."""


class BackupKeyMissing(BackupError):
    """An encrypted part and no identity that opens it: nothing can be said of its
    contents (a verification is `inconclusive`; a restore cannot go on)."""
