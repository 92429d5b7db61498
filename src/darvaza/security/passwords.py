"""Password hashing (argon2id) and the rules a new password must meet."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn.frequency_lists import FREQUENCY_LISTS  # type: ignore[import-untyped]

# Long enough for any passphrase; short enough that hashing it is no denial of service.
MAX_PASSWORD_LENGTH = 256
# The most common passwords from zxcvbn's list (leaked-password frequency ranking).
COMMON_PASSWORDS_CHECKED = 30_000

# argon2id with RFC 9106's low-memory parameters (64 MiB, 3 passes, 4 lanes).
_hasher = PasswordHasher()


class PasswordRejected(ValueError):
    """A new password that breaks a rule; the message says which."""


@cache
def _common_passwords() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"][:COMMON_PASSWORDS_CHECKED])


def check_new_password(password: str, *, min_length: int, email: str | None = None) -> None:
    if len(password) < min_length:
        raise PasswordRejected(f"The password must be at least {min_length} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordRejected(f"The password must be at most {MAX_PASSWORD_LENGTH} characters.")
    lowered = password.lower()
    if lowered in _common_passwords():
        raise PasswordRejected("This password is among the most common ones; choose another.")
    if email and lowered in {email.lower(), email.split("@")[0].lower()}:
        raise PasswordRejected("The password must not be the email address.")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def use_hasher(hasher: PasswordHasher) -> None:
    """Change the hashing cost (the test suite uses a cheap one; production never calls this)."""
    global _hasher  # noqa: PLW0603 (one process-wide setting)
    _hasher = hasher
    _dummy_hash.cache_clear()


@cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so that a failed login costs the
    same whether or not the email is known."""
    return _hasher.hash("darvaza-no-such-account")


def verify_password(password_hash: str | None, password: str) -> bool:
    """True only for the right password. With no hash, spends the same time and says no."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
