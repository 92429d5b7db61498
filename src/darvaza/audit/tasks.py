"""The audit log's work for the worker: the sealer, a loop every worker runs
(`sealer.py`).

The job engine sits above the audit log (it audits an operator's retry or cancel), so
this module names no job type: a loop is any function of the parts and a stop flag, and
the composition root hands `LOOPS` to the worker.
"""

from __future__ import annotations

import threading
from pathlib import Path

from darvaza.audit.checkpoints import AuditKeys, CheckpointFolder
from darvaza.audit.sealer import run_sealer
from darvaza.parts import Parts


def seal_audit_log(parts: Parts, stop: threading.Event) -> None:
    settings = parts.settings
    run_sealer(
        parts.db,
        AuditKeys.from_secret(settings.effective_audit_key),
        CheckpointFolder(Path(settings.audit_checkpoint_dir)),
        stop,
        interval=settings.audit_seal_interval_seconds,
    )


LOOPS = (seal_audit_log,)
