"""`darvaza audit`: verify, seal, the public key, proofs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    pass

from darvaza.cli.common import (
    _database,
    _fail,
    _settings,
)

audit_app = typer.Typer(help="The append-only audit log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check every sealed event against its seal, the seals' keyed chain, every signed
    checkpoint and its copy in the checkpoint folder; report what is not sealed yet. Exit 1
    naming the first event that disagrees, or when events wait too long for their seal."""
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
