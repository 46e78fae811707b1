"""Fixtures of the sender's tests: a real local HTTP server that plays Twilio's Messages API and
records requests, and an HTTP client for the providers."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]
    at: float


@dataclass
class FakeTwilio:
    """A real HTTP server on 127.0.0.1. ``responses`` are served in order (then 201s)."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    responses: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def auth_of(self, request: Recorded) -> tuple[str, str]:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        assert scheme == "Basic"
        user, _, password = base64.b64decode(value).decode().partition(":")
        return user, password

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Recorded]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.requests)


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    state = FakeTwilio()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(parse_qsl(self.rfile.read(length).decode()))
            with state.lock:
                state.requests.append(
                    Recorded("POST", self.path, dict(self.headers), form, time.monotonic())
                )
                number = len(state.requests)
                status, body, headers = (
                    state.responses.pop(0)
                    if state.responses
                    else (201, {"sid": f"SM{number:032d}", "status": "queued"}, {})
                )
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as client:
        yield client
