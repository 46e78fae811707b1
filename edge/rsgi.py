"""granian's RSGI interface for the part of the edge that Starlette answers.

``smartlinks edge`` serves the edge through RSGI: the short-link route answers with one
``response_bytes`` call (edge/visit.py, edge/pages.py), and everything else (/healthz,
/metrics, /tls/ask, the 404s and 405s) goes through ``bridge``, which runs the Starlette app as
an ASGI app: the RSGI scope as an ASGI ``http`` scope (as granian's own ASGI interface builds
it), the request body as one ``http.request`` message, and the answer collected from ``send``
(streamed when the app says more body follows).

What RSGI does not give: the request target's raw bytes (``raw_path`` is left out, as ASGI
allows; ``path`` is percent-decoded as in ASGI) and header values that are not visible ASCII
(granian leaves them out of RSGI's header list; edge/visit.py's ``rsgi_request`` says when a
User-Agent was sent that way).
"""

from __future__ import annotations

from typing import Any

from granian.rsgi import Headers, HTTPProtocol
from granian.rsgi import Scope as RSGIScope
from starlette.types import ASGIApp, Message

_ASGI = {"version": "3.0", "spec_version": "2.3"}


def split_address(address: str) -> tuple[str, str]:
    """RSGI's ``"1.2.3.4:5"`` or ``"[::1]:5"`` as the (host, port) of granian's ASGI scope:
    ``("1.2.3.4", "5")``, ``("::1", "5")``."""
    host, _, port = address.rpartition(":")
    if host.startswith("["):
        host = host[1:-1]
    return host, port


def host_header(scope: RSGIScope, headers: Headers) -> str | None:
    """None when the request has a Host header; else (HTTP/2) its ``:authority``, which granian's
    ASGI scope puts in as the Host header. ``headers`` is ``scope.headers``, read once."""
    if "host" in headers:
        return None
    return scope.authority or ""


def asgi_scope(scope: RSGIScope) -> dict[str, Any]:
    rsgi_headers = scope.headers
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in rsgi_headers.items()]
    authority = host_header(scope, rsgi_headers)
    if authority is not None:
        headers.insert(0, (b"host", authority.encode("latin-1")))
    return {
        "type": "http",
        "asgi": dict(_ASGI),
        "http_version": scope.http_version,
        "server": split_address(scope.server),
        "client": split_address(scope.client),
        "scheme": scope.scheme,
        "method": scope.method,
        "root_path": "",
        "path": scope.path,
        "query_string": scope.query_string.encode("latin-1"),
        "headers": headers,
        "extensions": {},
        "state": {},
    }


class _Exchange:
    """ASGI's receive and send over one RSGI protocol object."""

    def __init__(self, protocol: HTTPProtocol) -> None:
        self.protocol = protocol
        self.body_read = False
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.stream: Any = None
        self.done = False

    async def receive(self) -> Message:
        if not self.body_read:
            self.body_read = True
            return {"type": "http.request", "body": await self.protocol(), "more_body": False}
        await self.protocol.client_disconnect()  # nothing more to read: wait for the end
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.done:
            raise RuntimeError(f"{message['type']} after the response was complete")
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = [
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", ())
            ]
            return
        if message["type"] != "http.response.body" or not self.status:
            raise RuntimeError(f"unexpected ASGI message {message['type']!r}")
        body = message.get("body", b"")
        more = message.get("more_body", False)
        if self.stream is None and not more:
            self.protocol.response_bytes(self.status, self.headers, body)
        else:
            if self.stream is None:
                self.stream = self.protocol.response_stream(self.status, self.headers)
            if body:
                await self.stream.send_bytes(body)
        self.done = not more

    def finish(self) -> None:
        """A response started and never ended: end it with what was sent."""
        if self.status and self.stream is None and not self.done:
            self.protocol.response_bytes(self.status, self.headers, b"")


async def bridge(app: ASGIApp, scope: RSGIScope, protocol: HTTPProtocol) -> None:
    """Run the ASGI ``app`` for one RSGI HTTP request."""
    exchange = _Exchange(protocol)
    try:
        await app(asgi_scope(scope), exchange.receive, exchange.send)
    finally:
        exchange.finish()
