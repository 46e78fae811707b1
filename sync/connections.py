"""Where the servers are, for the workers: the settings' DATABASE_URL and REDIS_URL, else those
of the running `smartlinks up` (core.config reads its runtime file)."""

from __future__ import annotations

from core import config


def servers(settings: config.Settings) -> tuple[str, str]:
    """The database (as libpq reads it) and Redis URLs; SettingsError naming what is missing."""
    database = config.libpq_url(settings)
    redis_url = config.redis_url(settings)
    if not redis_url:
        raise config.SettingsError(
            "REDIS_URL is not set and no `smartlinks up` is running in "
            f"{settings.data_dir}: set REDIS_URL or start `smartlinks up`"
        )
    return database, redis_url
