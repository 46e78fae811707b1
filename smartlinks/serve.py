"""The two HTTP roles on granian: the edge (ASGI) and the admin (WSGI)."""

from __future__ import annotations

from granian import Granian
from granian.constants import Interfaces
from granian.http import HTTP1Settings

from core import config

# Small header limits for the edge: a short link request has no business sending more.
EDGE_HTTP1 = HTTP1Settings(header_read_timeout=5_000, max_buffer_size=16_384, keep_alive=True)


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
        respawn_failed_workers=True,
        process_name="smartlinks admin",
        websockets=False,
    ).serve()
