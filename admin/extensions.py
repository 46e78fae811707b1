"""Flask extensions, created unbound and attached in ``create_app`` (one ``init_app`` each),
and the app's Redis client (counters of the login and API limits)."""

from __future__ import annotations

import redis
from flask import Flask, current_app
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

from sync.connections import connect


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()

REDIS_EXTENSION = "smartlinks.redis"


def redis_client(app: Flask | None = None) -> redis.Redis | None:
    """The app's Redis (REDIS_URL; default: the running app's), made on first use; None when
    it has none. Short timeouts: a limiter waiting on Redis would hold up every request."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    client: redis.Redis | None = app.extensions.get(REDIS_EXTENSION)
    if client is None:
        url = app.config.get("REDIS_URL") or ""
        if not url:
            return None
        client = connect(
            url,
            bool(app.config.get("REDIS_CLUSTER")),
            socket_timeout=1,
            socket_connect_timeout=1,
        )
        app.extensions[REDIS_EXTENSION] = client
    return client
