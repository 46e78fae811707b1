"""A CSV file the browser saves, as the JSON API and the pages both answer it."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Response, stream_with_context


def csv_attachment(body: str | Iterator[str], filename: str) -> Response:
    """``body`` (streamed in the request's context when it is an iterator) saved as ``filename``;
    never cached, since it holds the organisation's data."""
    content = body if isinstance(body, str) else stream_with_context(body)
    return Response(
        content,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
