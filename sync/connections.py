"""Where the servers are, for every worker: the environment's DATABASE_URL and REDIS_URL, else
those of the running `smartlinks up` (its runtime file in the data folder)."""

from __future__ import annotations

import redis

from core import config


def _runtime() -> dict[str, str]:
    # Imported here: the launcher is not needed when the URLs are set.
    from smartlinks.embedded import read_runtime

    return read_runtime(config.load().data_dir)


def libpq_url(url: str) -> str:
    """SQLAlchemy's ``postgresql+psycopg://`` URL as libpq reads it."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}" if sep else url


def database_url() -> str:
    """The database as libpq reads it: DATABASE_URL, else the running `smartlinks up`'s."""
    return libpq_url(config.load().database_url or _runtime().get("database_url", ""))


def redis_url() -> str:
    """REDIS_URL, else the running `smartlinks up`'s server."""
    return config.load().redis_url or _runtime().get("redis_url", "")


def redis_client() -> redis.Redis | None:
    url = redis_url()
    return redis.Redis.from_url(url, socket_timeout=30) if url else None
