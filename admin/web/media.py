"""Uploaded preview images at public URLs: no login (fetchers must load them), cached for a
year (a new image gets a new id, so a URL's bytes never change)."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, request

from admin.services import uploads
from admin.web.blueprint import bp


@bp.get("/media/<public_id>.<ext>")
def media(public_id: str, ext: str) -> Any:
    upload = uploads.find_public(public_id, ext)
    if upload is None:
        abort(404)
    etag = upload.sha256[:32]
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "ETag": f'"{etag}"',
        "Cross-Origin-Resource-Policy": "cross-origin",
        "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    }
    if etag in request.if_none_match:
        return Response(status=304, headers=headers)
    return Response(bytes(upload.data), mimetype=upload.content_type, headers=headers)
