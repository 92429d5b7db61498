"""Operations' face: what other layers, the routes and the command ask of it."""

from darvaza.operations.evidence import (
    EvidenceFilter,
    Run,
    get_evidence,
    latest_evidence,
    latest_of_each,
    list_evidence,
    record_evidence,
)

__all__ = [
    "EvidenceFilter",
    "Run",
    "get_evidence",
    "latest_evidence",
    "latest_of_each",
    "list_evidence",
    "record_evidence",
]
