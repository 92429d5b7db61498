"""Opaque bearer tokens: random, prefixed by kind, stored only as a SHA-256 hash.

A token carries 256 bits of randomness, so a fast hash is enough: nothing can be guessed
by brute force, and a database dump holds no usable token. The prefix says what a token
is (and lets secret scanners recognise a leaked one).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

TOKEN_BYTES = 32
SESSION_PREFIX = "dzs_"
API_TOKEN_PREFIX = "dzt_"
ONE_TIME_PREFIX = "dzo_"

# What a well-formed token looks like; anything else is refused before any database work.
_TOKEN_SHAPE = re.compile(r"^dz[a-z]_[A-Za-z0-9_-]{43}$")


def new_token(prefix: str) -> tuple[str, str]:
    """A fresh token and the hash to store for it."""
    token = prefix + secrets.token_urlsafe(TOKEN_BYTES)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_token(value: str) -> bool:
    return bool(_TOKEN_SHAPE.match(value))


def derived_token(secret_key: str, purpose: str, ident: str) -> str:
    """The one-time token for a row (a password reset, an invitation): an HMAC of its id
    under the secret key. Only its hash is stored, and the mail job derives it again when
    it sends the mail, so the token itself is never written down anywhere, not even in
    the job queue."""
    mac = hmac.new(secret_key.encode(), f"{purpose}:{ident}".encode(), hashlib.sha256)
    return ONE_TIME_PREFIX + base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")
