"""Operations' refusals, in the one error shape."""

from __future__ import annotations

from darvaza.errors import InvalidInput


class EvidenceRefused(InvalidInput):
    """Evidence that cannot be recorded as given: its details are too large, or its times
    are out of order."""
