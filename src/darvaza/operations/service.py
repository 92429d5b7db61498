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
from darvaza.operations.fixture import AccountWanted, Fixture, prepare_smoke_fixture
from darvaza.operations.models import EVIDENCE_KINDS, EVIDENCE_RESULTS

__all__ = [
    "EVIDENCE_KINDS",
    "EVIDENCE_RESULTS",
    "AccountWanted",
    "EvidenceFilter",
    "Fixture",
    "Run",
    "get_evidence",
    "latest_evidence",
    "latest_of_each",
    "list_evidence",
    "prepare_smoke_fixture",
    "record_evidence",
]
