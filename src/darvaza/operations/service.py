"""Operations' face: what other layers, the routes and the command ask of it."""

from darvaza.operations.backup_verify import Verification, verify_backup
from darvaza.operations.backups import (
    BackupError,
    Progress,
    RestorePoint,
    backup_run,
    create_backup,
    failed_backup_run,
    find_backup,
    list_backups,
    prune_backups,
)
from darvaza.operations.drill import Drill, run_restore_drill
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
from darvaza.operations.restore import RestorePlan, plan_restore, restore_backup

__all__ = [
    "EVIDENCE_KINDS",
    "EVIDENCE_RESULTS",
    "AccountWanted",
    "BackupError",
    "Drill",
    "EvidenceFilter",
    "Fixture",
    "Progress",
    "RestorePlan",
    "RestorePoint",
    "Run",
    "Verification",
    "backup_run",
    "create_backup",
    "failed_backup_run",
    "find_backup",
    "get_evidence",
    "latest_evidence",
    "latest_of_each",
    "list_backups",
    "list_evidence",
    "plan_restore",
    "prepare_smoke_fixture",
    "prune_backups",
    "record_evidence",
    "restore_backup",
    "run_restore_drill",
    "verify_backup",
]
