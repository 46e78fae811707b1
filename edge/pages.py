"""The edge's answers with precomputed headers, and its small error pages.

An answer is built once, as a status, a header list of text pairs and a body, and written by
either of the interfaces granian serves the edge with: RSGI (``write_rsgi``, what ``smartlinks
edge`` runs; its response calls take text headers) or ASGI (``__call__``, as a Starlette
response; the in-process tests and tools drive the app that way).
"""

from __future__ import annotations

from granian.rsgi import HTTPProtocol
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

Header = tuple[str, str]

NO_STORE = ("cache-control", "private, no-store")
HTML = ("content-type", "text/html; charset=utf-8")
TEXT = ("content-type", "text/plain; charset=utf-8")
RETRY_AFTER = ("retry-after", "1")


class RawResponse(Response):
    """A Response with its header list given whole (names in lower case, values in ASCII): no
    per-request header building. ``header_list`` is what RSGI takes; ``raw_headers`` (ASGI's
    bytes) is made from it only when an answer goes out through ASGI."""

    def __init__(
        self,
        status: int,
        headers: list[Header],
        body: bytes = b"",
        content_length: int | None = None,
    ) -> None:
        self.status_code = status
        self.background = None
        self.body = self.payload = body  # Response's body may be a memoryview; this is bytes
        length = len(body) if content_length is None else content_length
        self.header_list = [*headers, ("content-length", str(length))]

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:  # type: ignore[override]
        return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.header_list]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send({"type": "http.response.body", "body": self.body})

    def write_rsgi(self, protocol: HTTPProtocol) -> None:
        """The answer through granian's RSGI protocol object (one call, nothing to await)."""
        protocol.response_bytes(self.status_code, self.header_list, self.payload)


def _page(title: str, text: str) -> bytes:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{title}</title></head>'
        f"<body><h1>{title}</h1><p>{text}</p></body></html>\n"
    ).encode()


NOT_FOUND_PAGE = _page(
    "Link not found", "This link does not exist. Check the address and try again."
)
GONE_PAGE = _page("Link no longer available", "This link has expired or was removed.")
TOO_LONG_PAGE = _page("Address too long", "The requested address is too long.")
UNAVAILABLE_PAGE = _page("Temporarily unavailable", "Please try again in a moment.")


def redirect(location: str) -> RawResponse:
    """A 302 to ``location`` (ASCII: edge/destinations.py percent-encodes the rest)."""
    return RawResponse(302, [("location", location), NO_STORE])


def html(status: int, body: bytes, head_only: bool = False) -> RawResponse:
    """An HTML answer; for a HEAD the same headers (Content-Length included) without a body."""
    if head_only:
        return RawResponse(status, [HTML, NO_STORE], b"", content_length=len(body))
    return RawResponse(status, [HTML, NO_STORE], body)


def not_found(head_only: bool = False) -> RawResponse:
    return html(404, NOT_FOUND_PAGE, head_only)


def gone(head_only: bool = False) -> RawResponse:
    return html(410, GONE_PAGE, head_only)


def too_long() -> RawResponse:
    return html(414, TOO_LONG_PAGE)


def unavailable(head_only: bool = False) -> RawResponse:
    if head_only:
        return RawResponse(
            503, [HTML, NO_STORE, RETRY_AFTER], b"", content_length=len(UNAVAILABLE_PAGE)
        )
    return RawResponse(503, [HTML, NO_STORE, RETRY_AFTER], UNAVAILABLE_PAGE)


def internal_error() -> RawResponse:
    """Starlette's own answer to an unhandled exception, for the path that skips Starlette."""
    return RawResponse(500, [TEXT], b"Internal Server Error")
