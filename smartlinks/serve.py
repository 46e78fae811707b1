"""The two HTTP roles on granian: the edge (ASGI) and the admin (WSGI)."""

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


def serve_edge(settings: config.Settings) -> None:
    Granian(
        "edge.app:create_app",
        factory=True,
        address=settings.edge.host,
        port=settings.edge.port,
        interface=Interfaces.ASGI,
        workers=settings.edge.workers,
        http1_settings=EDGE_HTTP1,
        backlog=2048,
        log_access=False,
        log_level=granian_log_level(settings.log_level),
        log_dictconfig=granian_logging("edge", settings.log_level),
        respawn_failed_workers=True,
        process_name="smartlinks edge",
        websockets=False,
    ).serve()


def serve_admin(settings: config.Settings) -> None:
    Granian(
        "admin.wsgi:app",
        address=settings.admin.host,
        port=settings.admin.port,
        interface=Interfaces.WSGI,
        workers=settings.admin.workers,
        blocking_threads=16,
        log_level=granian_log_level(settings.log_level),
        log_dictconfig=granian_logging("admin", settings.log_level),
        respawn_failed_workers=True,
        process_name="smartlinks admin",
        websockets=False,
    ).serve()
