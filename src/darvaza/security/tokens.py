"""Opaque bearer tokens: random, prefixed by kind, stored only as a SHA-256 hash.

A token carries 256 bits of randomness, so a fast hash is enough: nothing can be guessed
by brute force, and a database dump holds no usable token. The prefix says what a token
is (and lets secret scanners recognise a leaked one).
"""

from __future__ import annotations

import hashlib
import re
import secrets

TOKEN_BYTES = 32
SESSION_PREFIX = "dzs_"
API_TOKEN_PREFIX = "dzt_"

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
