"""`darvaza users` and `darvaza tokens`: accounts and staff API tokens."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from darvaza.security.roles import PlatformRole

if TYPE_CHECKING:
    pass

from darvaza.cli.common import (
    CLI_ACTOR,
    _database,
    _new_password,
)

users_app = typer.Typer(help="Accounts, and bootstrapping the first admin.", no_args_is_help=True)
tokens_app = typer.Typer(help="Staff API tokens for automation.", no_args_is_help=True)


class RoleChoice(StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    SUPPORT_ADMIN = "support_admin"
    AUDITOR = "auditor"
    CUSTOMER = "customer"

    def platform_role(self) -> PlatformRole | None:
        return None if self is RoleChoice.CUSTOMER else PlatformRole(self.value)


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="The account's email address.")],
    role: Annotated[
        RoleChoice, typer.Option(help="Platform role, or customer.")
    ] = RoleChoice.CUSTOMER,
) -> None:
    """Create an account; the password comes from DARVAZA_PASSWORD or a prompt."""
    from darvaza.identity.service import create_user
    from darvaza.security.caller import Actor

    password = _new_password()
    with _database() as (settings, db):
        user = create_user(
            db,
            Actor.system(CLI_ACTOR),
            email=email,
            password=password,
            min_length=settings.password_min_length,
            platform_role=role.platform_role(),
        )
    typer.echo(f"Created {user.email} ({role.value}), id {user.id}")


@users_app.command("set-role")
def users_set_role(
    email: Annotated[str, typer.Option(help="The account's email address.")],
    role: Annotated[RoleChoice, typer.Option(help="Platform role, or customer for none.")],
) -> None:
    """Give an account a platform role (or take it away); its sessions end."""
    from darvaza.identity.service import require_user_by_email, set_platform_role
    from darvaza.security.caller import Actor

    with _database() as (_, db):
        with db.read() as session:
            user_id = require_user_by_email(session, email).id
        user = set_platform_role(
            db, Actor.system(CLI_ACTOR), user_id=user_id, role=role.platform_role()
        )
    typer.echo(f"{user.email} is now {user.platform_role or 'customer'}")


@users_app.command("list")
def users_list(
    email: Annotated[str | None, typer.Option(help="Only this address.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
) -> None:
    """Accounts, oldest first: email, platform role, whether the address is verified."""
    from darvaza.identity.service import list_users

    with _database() as (_, db):
        users = list_users(db, email=email, limit=limit)
    for user in users:
        verified = "verified" if user.email_verified_at else "unverified"
        typer.echo(f"{user.id}  {user.email}  {user.platform_role or 'customer'}  {verified}")
    if not users:
        typer.echo("No accounts.")


@users_app.command("show")
def users_show(email: Annotated[str, typer.Option(help="The account's email address.")]) -> None:
    """One account: its role, when it was made and its password changed, and the tenants
    it is staff of."""
    from darvaza.identity.service import require_user_by_email
    from darvaza.tenants.service import memberships_of

    with _database() as (_, db):
        with db.read() as session:
            user = require_user_by_email(session, email)
        staff_of = memberships_of(db, user.id)
    typer.echo(f"{user.email}  id {user.id}")
    typer.echo(f"  platform role: {user.platform_role or 'customer'}")
    typer.echo(f"  created: {user.created_at:%Y-%m-%d %H:%M:%S}")
    verified = f"{user.email_verified_at:%Y-%m-%d %H:%M:%S}" if user.email_verified_at else "no"
    typer.echo(f"  email verified: {verified}")
    changed = user.password_changed_at
    typer.echo(f"  password changed: {f'{changed:%Y-%m-%d %H:%M:%S}' if changed else 'never'}")
    for membership in staff_of:
        typer.echo(f"  {membership.role} of {membership.tenant.slug}")


@users_app.command("reset-password")
def users_reset_password(
    email: Annotated[str, typer.Option(help="The account's email address.")],
) -> None:
    """Set a new password (from DARVAZA_PASSWORD or a prompt), for someone locked out;
    every session, API token and reset link of the account ends. Audited."""
    from darvaza.identity.service import set_password
    from darvaza.security.caller import Actor

    password = _new_password()
    with _database() as (settings, db):
        revoked = set_password(
            db, Actor.system(CLI_ACTOR), email=email, new_password=password,
            min_length=settings.password_min_length,
        )  # fmt: skip
    typer.echo(f"New password set for {email}; {revoked} session(s) and token(s) ended.")


@tokens_app.command("create")
def tokens_create(
    email: Annotated[str, typer.Option(help="The staff member the token acts for.")],
    name: Annotated[str, typer.Option(help="What the token is for, e.g. ops.")],
    expires_in_days: Annotated[
        int | None,
        typer.Option(help="Days until it expires; DARVAZA_API_TOKEN_MAX_DAYS when left out."),
    ] = None,
) -> None:
    """Create a staff API token and print it once (only its hash is kept)."""
    from darvaza.identity.service import create_api_token
    from darvaza.security.caller import Actor

    with _database() as (settings, db):
        new = create_api_token(
            db,
            Actor.system(CLI_ACTOR),
            email=email,
            name=name,
            expires_in_days=expires_in_days,
            max_days=settings.api_token_max_days,
        )
    expiry = new.credential.expires_at.isoformat() if new.credential.expires_at else "never"
    typer.echo(f"Token {new.credential.id} for {email} (expires {expiry}). Shown once:", err=True)
    typer.echo(new.token)


@tokens_app.command("list")
def tokens_list(
    include_revoked: Annotated[bool, typer.Option(help="Show revoked tokens too.")] = False,
) -> None:
    """List staff API tokens (never the tokens themselves)."""
    from darvaza.identity.service import list_api_tokens

    with _database() as (_, db):
        found = list_api_tokens(db, include_revoked=include_revoked)
    for credential in found:
        state = f"revoked {credential.revoked_at:%Y-%m-%d}" if credential.revoked_at else "live"
        expiry = f"{credential.expires_at:%Y-%m-%d}" if credential.expires_at else "never"
        typer.echo(
            f"{credential.id}  {credential.user.email}  {credential.name}  "
            f"expires {expiry}  last used {credential.last_used_at:%Y-%m-%d %H:%M}  {state}"
        )
    if not found:
        typer.echo("No API tokens.")


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[uuid.UUID, typer.Argument(help="The token's id.")]) -> None:
    """Revoke a staff API token; it is refused from the next request on."""
    from darvaza.identity.service import revoke_api_token
    from darvaza.security.caller import Actor

    with _database() as (_, db):
        revoke_api_token(db, Actor.system(CLI_ACTOR), token_id)
    typer.echo(f"Revoked {token_id}")
