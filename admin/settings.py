"""Where the admin finds its database and its secret key."""

from __future__ import annotations

import secrets
from pathlib import Path

from core import config
from smartlinks.embedded import read_runtime


def database_url(settings: config.Settings) -> str:
    url = settings.database_url or read_runtime(settings.data_dir).get("database_url", "")
    if not url:
        raise RuntimeError(
            "DATABASE_URL is not set and no `smartlinks up` is running in "
            f"{settings.data_dir}: set DATABASE_URL or start `smartlinks up`"
        )
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def redis_url(settings: config.Settings) -> str:
    return settings.redis_url or read_runtime(settings.data_dir).get("redis_url", "")


def secret_key(settings: config.Settings) -> str:
    explicit = config.env("SECRET_KEY")
    if explicit:
        return explicit
    path: Path = settings.data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key
