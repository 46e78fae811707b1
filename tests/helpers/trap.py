"""A real local HTTP server that records every request it gets; SSRF tests assert that it got
none. Per path it can also redirect, answer slowly or answer a large body. The ``trap`` fixture
is one per test (import it into a test module to use it)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Trap:
    host: str = "127.0.0.1"
    redirect: dict[str, str] = field(default_factory=dict)
    delay: dict[str, float] = field(default_factory=dict)
    body: dict[str, bytes] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    hits: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        trap = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length", "0") or 0)
                if length:
                    self.rfile.read(length)
                trap.hits.append((self.command, self.path, dict(self.headers)))
                time.sleep(trap.delay.get(self.path, 0))
                if self.path in trap.redirect:
                    self.send_response(302)
                    self.send_header("Location", trap.redirect[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = trap.body.get(self.path, b"internal secret page")
                self.send_response(trap.status.get(self.path, 200))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _any  # noqa: N815 (http.server's naming)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((self.host, 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda *args: None  # type: ignore[method-assign]  # a client that hung up (size limit)
        self.port: int = self.server.server_address[1]
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def trap() -> Iterator[Trap]:
    t = Trap()
    yield t
    t.close()
