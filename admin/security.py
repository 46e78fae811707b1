"""Passwords (argon2id) and API tokens (random, stored only as a SHA-256 hash)."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

TOKEN_PREFIX = "sl_"  # noqa: S105 (a marker, not a secret)


class _Passwords:
    """The process's argon2id hasher: RFC 9106's low-memory profile (3 passes, 4 lanes) with the
    memory PASSWORD_HASH_MEMORY_MIB gives (64 by default, as the profile), set by create_app.
    A hash records its own parameters, so any of them verifies; one made with others is
    reported for a new hash at sign-in (password_needs_rehash)."""

    def __init__(self) -> None:
        self.use_memory(profiles.RFC_9106_LOW_MEMORY.memory_cost // 1024)

    def use_memory(self, mib: int) -> None:
        if getattr(self, "memory_mib", None) == mib:
            return
        self.memory_mib = mib
        self.hasher = PasswordHasher.from_parameters(
            dataclasses.replace(profiles.RFC_9106_LOW_MEMORY, memory_cost=mib * 1024)
        )
        self._dummy_hash = ""

    def dummy_hash(self) -> str:
        """A hash to verify against when the email is unknown, so that the time a sign-in
        takes does not tell whether an account exists (made at the first such sign-in)."""
        if not self._dummy_hash:
            self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash


_passwords = _Passwords()


def use_password_memory(mib: int) -> None:
    """PASSWORD_HASH_MEMORY_MIB for this process's hashes from now on."""
    _passwords.use_memory(mib)


def hash_password(password: str) -> str:
    return _passwords.hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` is the one hashed; ``None`` (no such user) takes as long as a
    wrong password."""
    try:
        return _passwords.hasher.verify(stored_hash or _passwords.dummy_hash(), password) and (
            stored_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(stored_hash: str) -> bool:
    return _passwords.hasher.check_needs_rehash(stored_hash)


def new_api_token() -> tuple[str, str, str]:
    """(plain token shown once, its display prefix, the hash we store)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token[:10], hash_token(token)


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough (no brute force to slow down).
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)
