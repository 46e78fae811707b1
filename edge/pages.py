"""The edge's answers as raw ASGI responses with precomputed headers, and its small error pages."""

from __future__ import annotations

from starlette.responses import Response

NO_STORE = (b"cache-control", b"private, no-store")
HTML = (b"content-type", b"text/html; charset=utf-8")
TEXT = (b"content-type", b"text/plain; charset=utf-8")
RETRY_AFTER = (b"retry-after", b"1")


class RawResponse(Response):
    """A Response with its header list given as bytes: no per-request header building."""

    def __init__(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes = b"",
        content_length: int | None = None,
    ) -> None:
        self.status_code = status
        self.background = None
        self.body = body
        length = len(body) if content_length is None else content_length
        self.raw_headers = [*headers, (b"content-length", str(length).encode("ascii"))]


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


def redirect(location: bytes) -> RawResponse:
    return RawResponse(302, [(b"location", location), NO_STORE])


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
