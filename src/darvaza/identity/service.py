"""Identity's one face: what routes, the CLI and other domains may call. The rules live
in the use-case modules behind it (`accounts`, `sessions`, `api_tokens`, `one_time`,
`credentials`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from darvaza.db import Database, values_by_id
from darvaza.identity.accounts import (
    MailedTokens,
    change_password,
    create_user,
    email_key,
    find_user_by_email,
    get_user,
    list_users,
    normalise_email,
    register,
    request_password_reset,
    require_user_by_email,
    resend_verification,
    reset_password,
    set_password,
    set_platform_role,
    verify_email,
)
from darvaza.identity.api_tokens import create_api_token, list_api_tokens, revoke_api_token
from darvaza.identity.credentials import revoke_credentials
from darvaza.identity.models import User
from darvaza.identity.one_time import (
    EMAIL_VERIFICATION,
    PASSWORD_RESET,
    TENANT_INVITATION,
    Links,
    mail_link,
    spend,
    spend_others,
)
from darvaza.identity.one_time import find as find_one_time_token
from darvaza.identity.one_time import issue as issue_one_time_token
from darvaza.identity.sessions import (
    LoginThrottle,
    SessionPolicy,
    authenticate,
    delete_ended_sessions,
    list_sessions,
    login,
    logout,
    revoke_other_sessions,
    revoke_session,
)
from darvaza.security.roles import PlatformRole


def user_by_id(db: Database, user_id: uuid.UUID) -> User:
    with db.read() as session:
        return get_user(session, user_id)


def emails_by_id(session: Session, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    return values_by_id(session, User.id, User.email, user_ids)


def is_platform_admin(session: Session, user_id: uuid.UUID) -> bool:
    role = session.scalar(select(User.platform_role).where(User.id == user_id))
    return role == PlatformRole.PLATFORM_ADMIN.value


__all__ = [
    "EMAIL_VERIFICATION",
    "PASSWORD_RESET",
    "TENANT_INVITATION",
    "Links",
    "LoginThrottle",
    "MailedTokens",
    "SessionPolicy",
    "authenticate",
    "change_password",
    "create_api_token",
    "create_user",
    "delete_ended_sessions",
    "email_key",
    "emails_by_id",
    "find_one_time_token",
    "find_user_by_email",
    "get_user",
    "is_platform_admin",
    "issue_one_time_token",
    "list_api_tokens",
    "list_sessions",
    "list_users",
    "login",
    "logout",
    "mail_link",
    "normalise_email",
    "register",
    "request_password_reset",
    "require_user_by_email",
    "resend_verification",
    "reset_password",
    "revoke_api_token",
    "revoke_credentials",
    "revoke_other_sessions",
    "revoke_session",
    "set_password",
    "set_platform_role",
    "spend",
    "spend_others",
    "user_by_id",
    "verify_email",
]
