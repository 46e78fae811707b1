"""The admin: Flask app factory (web UI, JSON API, health), owner of Postgres."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, jsonify
from sqlalchemy import text
from werkzeug.routing import IntegerConverter, Map

from admin import security
from admin.extensions import db, migrate
from admin.services import jobs
from core import config

MIGRATIONS_DIR = str(Path(__file__).parent / "migrations")


class BigintConverter(IntegerConverter):
    """``<int:...>`` in a route, at most a Postgres bigint: a larger id in a path matches no
    route (404) instead of reaching a query that fails (500)."""

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = 2**63 - 1,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits, min, max, signed)


SETTINGS_EXTENSION = "smartlinks.settings"


def create_app(
    test_config: dict[str, Any] | None = None, settings: config.Settings | None = None
) -> Flask:
    """The admin app. ``settings`` defaults to ``config.load()`` (the process's environment);
    the whole object stays in ``app.extensions[SETTINGS_EXTENSION]`` and the values that
    routes read are in ``app.config``, where ``test_config`` may override them."""
    from admin import settings as admin_settings

    app = Flask(__name__, instance_relative_config=False)
    app.url_map.converters["int"] = BigintConverter  # before any route is added
    settings = settings or config.load()
    app.extensions[SETTINGS_EXTENSION] = settings
    security.use_password_memory(settings.admin.password_hash_memory_mib)
    app.extensions[jobs.FACTORY_EXTENSION] = (create_app, settings)  # for its job workers
    test_config = test_config or {}
    app.config.update(
        SECRET_KEY=test_config.get("SECRET_KEY") or admin_settings.secret_key(settings),
        SQLALCHEMY_DATABASE_URI=test_config.get("SQLALCHEMY_DATABASE_URI")
        or config.sqlalchemy_url(settings),
        # hide_parameters: a failed statement's error (and so the error log) must not carry
        # its values: password hashes, token hashes, contacts' personal data.
        # The pool outgrows the request threads (each uses one connection at a time), so
        # that no request waits for a connection; the job locks have one of their own.
        SQLALCHEMY_ENGINE_OPTIONS={
            "pool_pre_ping": True,
            "pool_size": config.ADMIN_THREADS,
            "max_overflow": config.ADMIN_THREADS,
            "hide_parameters": True,
        },
        REDIS_URL=test_config.get("REDIS_URL", config.redis_url(settings)),
        REDIS_CLUSTER=config.redis_cluster(settings),
        REDIS_PARTITIONS=config.redis_partitions(settings),
        # Uploads (CSV imports, preview images) are the largest bodies; JSON bodies have their
        # own, smaller limit in the API.
        MAX_CONTENT_LENGTH=64 * 1024 * 1024,
        MAX_JSON_BYTES=1024 * 1024,
        SHORT_URL_SCHEME=settings.short_url_scheme,
        PUBLIC_ADMIN_URL=settings.admin.public_url,
        EDGE_CNAME_TARGET=settings.edge.cname_target,
        DNS_SERVERS=settings.dns_servers,
        TRUSTED_PROXIES=settings.trusted_proxies,
        ADMIN_TRUSTED_PROXIES=settings.admin.trusted_proxies,  # the login limiter's
        WEBHOOK_ALLOW_HTTP_LOOPBACK=settings.webhooks.allow_http_loopback,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.admin.public_url.startswith("https://"),
        JSON_SORT_KEYS=False,
        # What one token or organisation may use (admin/api/limits.py, services/imports.py).
        API_REQUESTS_PER_MINUTE=settings.admin.api_requests_per_minute,
        API_CONCURRENT_PER_ORG=settings.admin.api_concurrent_per_org,
        IMPORTS_PER_ORG=settings.admin.imports_per_org,
        JOB_WORKERS=settings.admin.job_workers,  # admin/services/jobs.py
        JOB_SHARE=settings.admin.job_share,  # jobs.Pace
        JOB_CPUS=settings.admin.job_cpus,  # jobs.Runner
        IMPORT_MAX_BYTES=int(settings.admin.import_max_mb * 1024 * 1024),
    )
    app.config.update(test_config)

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)

    from admin import api, web
    from admin.services import audit, codes

    api.init_app(app)
    web.init_app(app)
    # Who acted (the audit log's actor) is set per request by its authentication: forgotten
    # after each, so a server thread's next request never inherits it.
    app.teardown_request(lambda _exc: audit.reset())

    @app.before_request
    def partitions() -> None:
        # New codes go in their contact's partition: a click is one round trip on a cluster.
        codes.PARTITIONS.set(app.config["REDIS_PARTITIONS"])

    @app.get("/healthz")
    def healthz() -> Any:
        try:
            db.session.execute(text("SELECT 1"))
        except Exception:  # any database failure means we cannot serve
            db.session.rollback()
            return jsonify(status="unavailable", database="down"), 503
        return jsonify(status="ok")

    return app
