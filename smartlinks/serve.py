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


def granian_logging(role: str) -> dict[str, Any]:
    """granian's own log lines (and the workers' root logger) as our JSON lines naming the role."""
    level = config.env("LOG_LEVEL").upper()
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


def granian_log_level() -> LogLevels:
    try:
        return LogLevels(config.env("LOG_LEVEL").lower())
    except ValueError:
        return LogLevels.info


def serve_edge() -> None:
    settings = config.load()
    Granian(
        "edge.app:create_app",
        factory=True,
        address=settings.edge_host,
        port=settings.edge_port,
        interface=Interfaces.ASGI,
        workers=settings.edge_workers,
        http1_settings=EDGE_HTTP1,
        backlog=2048,
        log_access=False,
        log_level=granian_log_level(),
        log_dictconfig=granian_logging("edge"),
        respawn_failed_workers=True,
        process_name="smartlinks edge",
        websockets=False,
    ).serve()


def serve_admin() -> None:
    settings = config.load()
    Granian(
        "admin.wsgi:app",
        address=settings.admin_host,
        port=settings.admin_port,
        interface=Interfaces.WSGI,
        workers=settings.admin_workers,
        blocking_threads=16,
        log_level=granian_log_level(),
        log_dictconfig=granian_logging("admin"),
        respawn_failed_workers=True,
        process_name="smartlinks admin",
        websockets=False,
    ).serve()
