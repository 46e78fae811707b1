"""Secrets at rest: the SMS providers' auth tokens and the webhooks' signing secrets are stored
encrypted with a key that is not in the database (Fernet: AES-128-CBC + HMAC-SHA256).

The keys come from ``SECRETS_KEY`` (comma-separated Fernet keys, newest first: the first
encrypts, all decrypt, so a new key can be put in front while old values are still readable);
unset, one key is generated once into the data folder, like ``SECRET_KEY``. ``smartlinks
secrets rotate`` re-encrypts every stored secret with the first key (admin/services/
secret_rotation.py), after which the old keys can be dropped.

A stored value is ``"fernet:" + token``. A value without the prefix is a plain secret stored
before encryption existed: it still reads, and the next rotation encrypts it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from core import config

PREFIX = "fernet:"
KEY_FILE = "secrets_key"


class SecretUnreadable(ValueError):
    """A stored secret that none of the keys decrypts (the key it was made with is gone)."""


def key_file(data_dir: Path | None = None) -> Path:
    return (data_dir or config.load().data_dir) / KEY_FILE


def key_text(data_dir: Path | None = None, settings: config.Settings | None = None) -> str:
    """The keys as configured: ``SECRETS_KEY``, else the data folder's file (made once)."""
    settings = settings or config.load()
    explicit = settings.secrets_key.strip()
    if explicit:
        return explicit
    path = key_file(data_dir or settings.data_dir)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Exclusive create: processes starting together agree on one key.
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(Fernet.generate_key().decode())
    return path.read_text().strip()


def parse_keys(text: str) -> MultiFernet:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if not keys:
        raise ValueError("SECRETS_KEY holds no key")
    try:
        return MultiFernet([Fernet(k) for k in keys])
    except ValueError:
        raise ValueError(
            "SECRETS_KEY must hold Fernet keys (urlsafe base64 of 32 bytes), comma-separated"
        ) from None


_lock = threading.Lock()
_cache: dict[tuple[str, str, int, int], MultiFernet] = {}


def keyring() -> MultiFernet:
    """This process's keys, through ``config.load()`` at each use, and read again when
    SECRETS_KEY, the data folder or its key file changes (`secrets rotate --new-key` rewrites
    the file under running workers)."""
    settings = config.load()
    stamp = size = 0
    if not settings.secrets_key.strip():
        with contextlib.suppress(OSError):
            stat = key_file(settings.data_dir).stat()
            stamp, size = stat.st_mtime_ns, stat.st_size
    marker = (settings.secrets_key, str(settings.data_dir), stamp, size)
    with _lock:
        found = _cache.get(marker)
        if found is None:
            found = _cache[marker] = parse_keys(key_text(settings=settings))
        return found


def encrypt(plain: str) -> str:
    return PREFIX + keyring().encrypt(plain.encode()).decode()


def is_encrypted(stored: str) -> bool:
    return stored.startswith(PREFIX)


def decrypt(stored: str) -> str:
    if not is_encrypted(stored):
        return stored  # stored before encryption: the next rotation encrypts it
    try:
        return keyring().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("no key in SECRETS_KEY decrypts this secret") from None


def rotate(stored: str) -> str:
    """``stored`` encrypted with the first key (a plain one encrypted for the first time)."""
    if not is_encrypted(stored):
        return encrypt(stored)
    try:
        return PREFIX + keyring().rotate(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("no key in SECRETS_KEY decrypts this secret") from None


def new_key() -> str:
    return Fernet.generate_key().decode()
