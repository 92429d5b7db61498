"""Operations' face: what other layers, the routes and the command ask of it."""

from darvaza.operations.backup_verify import Verification, verify_backup
from darvaza.operations.backups import ID as RESTORE_POINT
from darvaza.operations.backups import (
    Progress,
    RestorePoint,
    backup_run,
    create_backup,
    failed_backup_run,
    find_backup,
    list_backups,
    read_snapshot,
)
from darvaza.operations.drill import (
    Drill,
    ScratchCopy,
    Steps,
    point_for,
    run_restore_drill,
    scratch_copy,
)
from darvaza.operations.errors import BackupError
from darvaza.operations.evidence import (
    EvidenceFilter,
    Run,
    evidence_in,
    get_evidence,
    latest_evidence,
    latest_of_each,
    list_evidence,
    record_evidence,
)
from darvaza.operations.fixture import AccountWanted, Fixture, prepare_smoke_fixture
from darvaza.operations.models import EVIDENCE_KINDS, EVIDENCE_RESULTS
from darvaza.operations.release import (
    Rehearsal,
    RollbackPlan,
    UpgradeGuard,
    guard_upgrade,
    plan_rollback,
    rehearse_release,
    roll_back,
    smoke_rolled_back,
)
from darvaza.operations.restore import RestorePlan, plan_restore, restore_backup, restore_run
from darvaza.operations.restore_points import (
    RestorePointView,
    drill_facts,
    get_restore_point,
    list_drills,
    list_restore_points,
)
from darvaza.operations.retention import prune_backups
from darvaza.operations.sealing import new_identity
from darvaza.operations.tasks import next_runs

__all__ = [
    "EVIDENCE_KINDS",
    "EVIDENCE_RESULTS",
    "RESTORE_POINT",
    "AccountWanted",
    "BackupError",
    "Drill",
    "EvidenceFilter",
    "Fixture",
    "Progress",
    "Rehearsal",
    "RestorePlan",
    "RestorePoint",
    "RestorePointView",
    "RollbackPlan",
    "Run",
    "ScratchCopy",
    "Steps",
    "UpgradeGuard",
    "Verification",
    "backup_run",
    "create_backup",
    "drill_facts",
    "evidence_in",
    "failed_backup_run",
    "find_backup",
    "get_evidence",
    "get_restore_point",
    "guard_upgrade",
    "latest_evidence",
    "latest_of_each",
    "list_backups",
    "list_drills",
    "list_evidence",
    "list_restore_points",
    "new_identity",
    "next_runs",
    "plan_restore",
    "plan_rollback",
    "point_for",
    "prepare_smoke_fixture",
    "prune_backups",
    "read_snapshot",
    "record_evidence",
    "rehearse_release",
    "restore_backup",
    "restore_run",
    "roll_back",
    "run_restore_drill",
    "scratch_copy",
    "smoke_rolled_back",
    "verify_backup",
]
