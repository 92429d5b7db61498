"""The readiness report as Markdown (`darvaza readiness --output`): the verdict first,
then every proof with its answer, the evidence it read, what blocks it and the command
that would produce what is missing."""

from __future__ import annotations

from darvaza.readiness.report import Report

MARK = {"pass": "pass", "exempt": "EXEMPT", "fail": "FAIL", "stale": "STALE", "missing": "MISSING"}


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _age(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 48 * 60:
        return f"{minutes // 60}h{minutes % 60:02d}m"
    return f"{minutes // (24 * 60)}d"


def render_markdown(report: Report) -> str:
    now = report.generated_at
    lines = [
        "# V1 readiness",
        "",
        f"**{report.verdict}** for {report.for_profile}: instance "
        f"`{report.instance_profile}/{report.instance_name}`, Darvaza {report.version} "
        f"({report.revision or 'revision unknown'}), {now:%Y-%m-%d %H:%M:%S} UTC.",
        "",
        "Written by `darvaza readiness` from the instance's evidence and live state; do not "
        "edit it by hand: run the command again.",
        "",
    ]
    if report.blocking:
        lines += ["Blocking: " + ", ".join(f"`{p.key}`" for p in report.blocking) + ".", ""]
    lines += ["| proof | answer | evidence |", "|---|---|---|"]
    for proof in report.proofs:
        used = ", ".join(f"{u.kind}/{u.name} {u.result} {_age(u.age_seconds(now))} ago"
                         for u in proof.evidence) or "-"  # fmt: skip
        lines.append(f"| {_cell(proof.title)} | {MARK[proof.status]} | {_cell(used)} |")
    for proof in report.proofs:
        lines += ["", f"## {proof.title}: {MARK[proof.status]}", "", proof.description]
        if proof.exemption is not None:
            e = proof.exemption
            lines += ["", f"Exempt by {e.granted_by} until {e.expires_at:%Y-%m-%d %H:%M} UTC: "
                          f"{e.reason}"]  # fmt: skip
        for use in proof.evidence:
            lines.append(
                f"- evidence `{use.id}`: {use.kind} {use.name}, {use.result}, recorded "
                f"{use.recorded_at:%Y-%m-%d %H:%M} UTC on {use.instance_profile}/"
                f"{use.instance_name}"
                + (f" (read from {use.source})" if use.source != "local" else "")
            )
        if proof.blockers:
            lines += ["", "Blockers:", *(f"- {_cell(b)}" for b in proof.blockers)]
        if proof.commands:
            lines += ["", "To produce what is missing:", *(f"- `{c}`" for c in proof.commands)]
    return "\n".join(lines) + "\n"
