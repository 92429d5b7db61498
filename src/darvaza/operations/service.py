"""Operations' face: what other layers, the routes and the command ask of it."""

from darvaza.operations.backup_verify import Verification, verify_backup
from darvaza.operations.backups import (
    BackupError,
    Progress,
    RestorePoint,
    create_backup,
    find_backup,
    list_backups,
)
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
    "BackupError",
    "EvidenceFilter",
    "Fixture",
    "Progress",
    "RestorePoint",
    "Run",
    "Verification",
    "create_backup",
    "find_backup",
    "get_evidence",
    "latest_evidence",
    "latest_of_each",
    "list_backups",
    "list_evidence",
    "prepare_smoke_fixture",
    "record_evidence",
    "verify_backup",
]
