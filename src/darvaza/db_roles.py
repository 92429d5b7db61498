"""The PostgreSQL privileges of the role that serves the API.

Run migrations as a role that owns the tables; serve as another that does not. Only a
table's owner (or a superuser) may drop or disable its triggers, so a serving role
without ownership cannot switch off the triggers that keep the audit log append-only, and
it is granted no UPDATE, DELETE or TRUNCATE on the log at all. `darvaza db grants` prints
these statements, made from the tables Darvaza has, for the owner to run.
"""

from __future__ import annotations

import re

from sqlalchemy import MetaData

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
FULL = "SELECT, INSERT, UPDATE, DELETE"
# Where the serving role gets less than FULL.
PRIVILEGES = {
    "audit_events": "SELECT, INSERT",  # append-only
    "audit_seals": "SELECT, INSERT",  # append-only
    "audit_checkpoints": "SELECT, INSERT",  # append-only
    "evidence": "SELECT, INSERT",  # append-only
    "ops_finding_events": "SELECT, INSERT",  # append-only
    # The sealer's queue: a trigger fills it as the inserting role; the sealer empties it.
    "audit_pending": "SELECT, INSERT, DELETE",
    "alembic_version": "SELECT",  # written by migrations alone
}


def serving_role_grants(role: str, metadata: MetaData) -> list[str]:
    """The statements that give `role` exactly what serving needs on the tables of
    `metadata` (every domain's: `darvaza.models.metadata`), and no more."""
    if not _ROLE_NAME.match(role):
        raise ValueError("a role name is lower-case letters, digits and _ (at most 63)")
    tables = sorted({table.name for table in metadata.sorted_tables} | {"alembic_version"})
    statements = [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}",
        f"GRANT USAGE ON SCHEMA public TO {role}",
    ]
    statements += [f"GRANT {PRIVILEGES.get(t, FULL)} ON {t} TO {role}" for t in tables]
    statements.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
    return statements
