"""The two HTTP roles on granian: the edge (RSGI) and the admin (WSGI)."""

from __future__ import annotations

from typing import Any

from granian import Granian
from granian.constants import Interfaces
from granian.http import HTTP1Settings
from granian.log import LogLevels

from core import config

# Small header limits for the edge: a short link request has no business sending more.
EDGE_HTTP1 = HTTP1Settings(header_read_timeout=5_000, max_buffer_size=16_384, keep_alive=True)


def granian_logging(role: str, level: str) -> dict[str, Any]:
    """granian's own log lines (and the workers' root logger) as our JSON lines naming the role."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "core.logs.JsonFormatter", "role": role}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "_granian": {"handlers": ["console"], "level": level, "propagate": False},
            "granian.access": {"handlers": ["console"], "level": level, "propagate": False},
        },
        "root": {"handlers": ["console"], "level": level},
    }


def granian_log_level(level: str) -> LogLevels:
    try:
        return LogLevels(level.lower())
    except ValueError:
        return LogLevels.info


def _serve(role: str, target: str, settings: config.Settings, **options: Any) -> None:
    """Granian serving ``target`` as ``smartlinks <role>`` in the foreground, with the settings
    both roles share: our log format and level, failed workers respawned, no websockets."""
    Granian(
        target,
        log_level=granian_log_level(settings.log_level),
        log_dictconfig=granian_logging(role, settings.log_level),
        respawn_failed_workers=True,
        process_name=f"smartlinks {role}",
        websockets=False,
        **options,
    ).serve()


def serve_edge(settings: config.Settings) -> None:
    _serve(
        "edge",
        "edge.app:create_app",
        settings,
        factory=True,
        address=settings.edge.host,
        port=settings.edge.port,
        interface=Interfaces.RSGI,  # the short-link route without ASGI: edge/app.py
        workers=settings.edge.workers,
        http1_settings=EDGE_HTTP1,
        backlog=2048,
        log_access=False,
    )


def serve_admin(settings: config.Settings) -> None:
    _serve(
        "admin",
        "admin.wsgi:app",
        settings,
        address=settings.admin.host,
        port=settings.admin.port,
        interface=Interfaces.WSGI,
        workers=settings.admin.workers,
        blocking_threads=config.ADMIN_THREADS,
    )
