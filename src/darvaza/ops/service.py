"""The ops domain's one face: readiness (`readiness`), the checks' findings (`findings`),
the summary read from them (`summary`) and alert routing (`alerts`)."""

from __future__ import annotations

from darvaza.ops.findings import (
    RunReport,
    acknowledge_finding,
    expire_acknowledgements,
    findings_of_incident,
    link_to_incident,
    run_check,
    run_checks,
)
from darvaza.ops.readiness import CheckFailed, ReadinessReport, check_readiness
from darvaza.ops.summary import (
    SCHEMA_VERSION,
    CheckStatus,
    FindingFilter,
    FindingView,
    Summary,
    first_steps,
    get_finding,
    list_findings,
    open_by_severity,
    open_counts,
    ops_summary,
    playbook_text,
    views_of,
)

__all__ = [
    "SCHEMA_VERSION",
    "CheckFailed",
    "CheckStatus",
    "FindingFilter",
    "FindingView",
    "ReadinessReport",
    "RunReport",
    "Summary",
    "acknowledge_finding",
    "check_readiness",
    "expire_acknowledgements",
    "findings_of_incident",
    "first_steps",
    "get_finding",
    "link_to_incident",
    "list_findings",
    "open_by_severity",
    "open_counts",
    "ops_summary",
    "playbook_text",
    "run_check",
    "run_checks",
    "views_of",
]
