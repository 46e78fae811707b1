"""The admin's session key: SECRET_KEY, else one made once and kept in the data folder."""

from __future__ import annotations

import secrets
from pathlib import Path

from core import config


def secret_key(settings: config.Settings) -> str:
    if settings.admin.secret_key:
        return settings.admin.secret_key
    path: Path = settings.data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key
