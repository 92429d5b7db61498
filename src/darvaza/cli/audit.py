"""`darvaza audit`: verify, seal, the public key, proofs."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    pass

from darvaza.cli.common import (
    _database,
    _fail,
    _settings,
    _utc,
)

audit_app = typer.Typer(help="The append-only audit log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(
    bundle: Annotated[
        Path | None,
        typer.Option(
            help="Verify this bundle (from `darvaza audit export`) instead, offline: "
            "no database, no settings."
        ),
    ] = None,
    public_key: Annotated[
        str | None, typer.Option(help="With --bundle: the audit public key you were given, hex.")
    ] = None,
) -> None:
    """Check every sealed event against its seal, the seals' keyed chain, every signed
    checkpoint and its copy in the checkpoint folder; report what is not sealed yet. Exit 1
    naming the first event that disagrees, or when events wait too long for their seal.
    With --bundle, check an auditor's bundle instead, naming every line that disagrees."""
    if bundle is not None:
        _verify_bundle(bundle, public_key)
        return
    from darvaza.audit.service import verify_with_settings
    from darvaza.db import Database
    from darvaza.revisions import migration_status

    settings = _settings()
    db = Database.from_settings(settings)
    try:
        status = migration_status(db)
        if status.pending:
            _fail(f"Cannot verify: {status.describe()}. Run `darvaza migrate` first.")
        report = verify_with_settings(db, settings)
    finally:
        db.dispose()
    waiting = f"{report.unsealed} events not sealed yet"
    if report.oldest_unsealed_seconds is not None:
        waiting += f" (the oldest for {report.oldest_unsealed_seconds:.1f} s)"
    if not report.ok:
        where = ""
        if report.first_bad_seq is not None:
            event = f", event {report.first_bad_event}" if report.first_bad_event else ""
            where = f"\nFirst disagreement at seal {report.first_bad_seq}{event}."
        _fail(
            "Audit log BROKEN: " + "; ".join(report.problems) + "." + where
            + f"\nSeals verified before it: {report.sealed}; {waiting}."
        )  # fmt: skip
    typer.echo(
        f"Audit log intact: {report.sealed} sealed events in {report.checkpoints} signed "
        f"checkpoints; {waiting}."
    )


def _verify_bundle(folder: Path, public_key: str | None) -> None:
    from darvaza.audit.bundle import verify_bundle

    report = verify_bundle(folder, public_key)
    if not report.ok:
        _fail("Bundle BROKEN:\n" + "\n".join(f"  - {p}" for p in report.problems))
    typer.echo(
        f"Bundle intact: {report.events} sealed events ({report.in_period} in its period) in "
        f"{report.checkpoints} signed checkpoints, key {report.public_key}."
    )
    if public_key is None:
        typer.echo("Compare that key with the one the operator gave you (--public-key).")


@audit_app.command("export")
def audit_export(
    to: Annotated[Path, typer.Option(help="A new folder for the bundle.")],
    since: Annotated[
        datetime | None, typer.Option(help="From this time (UTC; default: the first event).")
    ] = None,
    until: Annotated[datetime | None, typer.Option(help="Before this time [default: now].")] = None,
) -> None:
    """Write an auditor's bundle: the period's sealed events as JSON lines, the signed
    checkpoints covering them, a manifest and a verification note; verify it as an
    auditor would and record the verdict as `audit_export` evidence."""
    from datetime import UTC

    from darvaza.audit.bundle import BundleError, export_bundle, verify_bundle
    from darvaza.audit.checkpoints import AuditKeys
    from darvaza.cli.evidence import record_own_run
    from darvaza.clock import utcnow

    started = utcnow()
    # A time without a zone is UTC; no --since is the log's beginning.
    start = _utc(since) or datetime(2000, 1, 1, tzinfo=UTC)
    end = _utc(until) or started
    with _database() as (settings, db):
        keys = AuditKeys.from_secret(settings.effective_audit_key)
        try:
            summary = export_bundle(db, keys, since=start, until=end, to=to)
        except BundleError as exc:
            _fail(str(exc))
        report = verify_bundle(to, keys.public_hex)
        details = {
            "since": start.isoformat(), "until": end.isoformat(), "events": summary.events,
            "in_period": summary.in_period, "unsealed_in_period": summary.unsealed_in_period,
            "checkpoints": summary.checkpoints, "problems": report.problems[:20],
        }  # fmt: skip
        result = "passed" if report.ok else "failed"
        record_own_run(settings, db, "audit_export", "bundle", result, details, started_at=started)
    if not report.ok:
        _fail("The bundle written does not verify:\n" + "\n".join(report.problems))
    typer.echo(
        f"Wrote {to}: {summary.in_period} events of the period ({summary.events} with their "
        f"checkpoints' whole ranges) in {summary.checkpoints} signed checkpoints; "
        f"{summary.unsealed_in_period} not sealed yet left out."
    )


@audit_app.command("seal")
def audit_seal() -> None:
    """Seal every pending event now and sign its checkpoints (the worker's sealer does
    this continuously)."""
    from darvaza.audit.checkpoints import AuditKeys, CheckpointFolder, seal_all

    with _database() as (settings, db):
        keys = AuditKeys.from_secret(settings.effective_audit_key)
        sealed = seal_all(db, keys, CheckpointFolder(Path(settings.audit_checkpoint_dir)))
    typer.echo(f"Sealed {sealed} events.")


@audit_app.command("public-key")
def audit_public_key() -> None:
    """Print the public key that checkpoints are signed with (keep a copy elsewhere)."""
    from darvaza.audit.checkpoints import AuditKeys

    typer.echo(AuditKeys.from_secret(_settings().effective_audit_key).public_hex)


@audit_app.command("prove")
def audit_prove(
    event_id: Annotated[int, typer.Argument(help="The event's id (as the API shows it).", min=1)],
) -> None:
    """Print a proof (JSON) that the event is in a signed checkpoint; `darvaza audit
    check-proof` checks it with the public key alone, without the database."""
    from darvaza.audit.verify import inclusion_proof

    with _database() as (_, db):
        try:
            proof = inclusion_proof(db, event_id)
        except LookupError as exc:
            _fail(str(exc))
    typer.echo(json.dumps(proof, indent=1, ensure_ascii=False))


@audit_app.command("check-proof")
def audit_check_proof(
    proof_file: Annotated[Path, typer.Argument(help="A proof from `darvaza audit prove`.")],
    public_key: Annotated[str, typer.Option(help="The audit public key, hex.")],
) -> None:
    """Check a proof offline: exit 0 when it holds, 1 naming what does not."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from darvaza.audit.verify import check_proof

    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key))
        proof = json.loads(proof_file.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        _fail(f"Cannot read the key or the proof: {exc}", code=2)
    problems = check_proof(proof, key)
    if problems:
        _fail("The proof does not hold: " + "; ".join(problems) + ".")
    typer.echo(
        f"The proof holds: event {proof['id']} is seal {proof['seq']} of the signed checkpoint."
    )
