"""Passwords (argon2id) and API tokens (random, stored only as a SHA-256 hash)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters

TOKEN_PREFIX = "sl_"  # noqa: S105 (a marker, not a secret)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


# A fixed hash to verify against when the email is unknown, so that the time a login takes
# does not tell whether an account exists.
DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def new_api_token() -> tuple[str, str, str]:
    """(plain token shown once, its display prefix, the hash we store)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token[:10], hash_token(token)


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough (no brute force to slow down).
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)
