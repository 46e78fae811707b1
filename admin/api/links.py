"""API routes: links (list, create, read, update, archive) and issuing per-contact URLs."""

from __future__ import annotations

from typing import Any

import msgspec
from flask import Response, current_app, g

from admin.api.auth import org_id
from admin.api.blueprint import bp
from admin.api.bodies import as_changes, read_json, respond
from admin.api.errors import ApiError
from admin.api.openapi import Query, doc
from admin.api.params import query_bool
from admin.appsettings import short_url_scheme
from admin.models import Link
from admin.schemas.resources import (
    IssuedUrl,
    IssueRequest,
    IssueResult,
    LinkCreate,
    LinkList,
    LinkOut,
    LinkUpdate,
    PreviewOut,
)
from admin.schemas.sending import LinkPresets
from admin.services import codes, compliance, links, presets
from core import actions

# 100,000 contact ids need more than the usual JSON limit.
ISSUE_BODY_FACTOR = 16


def links_out(rows: list[Link]) -> list[LinkOut]:
    generic = links.generic_codes(link.id for link in rows)
    scheme = short_url_scheme()
    return [
        LinkOut(
            id=link.id,
            name=link.name,
            destination=link.destination,
            domain=link.domain.hostname,
            extension=link.extension,
            preview=PreviewOut(
                title=link.preview_title,
                description=link.preview_description,
                image_url=link.preview_image_url,
            ),
            actions=actions.from_json(link.actions),
            archived=link.archived,
            url=codes.short_url(link, generic[link.id], scheme) if link.id in generic else "",
            created_at=link.created_at,
            updated_at=link.updated_at,
            expires_at=link.expires_at,
            folder=link.folder,
        )
        for link in rows
    ]


def _override(changes: dict[str, Any]) -> compliance.Override:
    """``"allow_shortener": true`` lets a public shortener be the destination, and
    ``"allow_redirects": true`` one that redirects to another host; only an owner's token may
    say so, and each use is in the audit log."""
    allowed = {f: bool(changes.pop(f, False)) for f in ("allow_shortener", "allow_redirects")}
    for field, wanted in allowed.items():
        if wanted and not compliance.is_owner(org_id(), g.get("user_id")):
            what = "a public shortener" if field == "allow_shortener" else "a redirecting destination"
            raise ApiError(403, "forbidden", f"only an owner may allow {what}", field)
    return compliance.Override(
        shortener=allowed["allow_shortener"],
        redirects=allowed["allow_redirects"],
        actor=f"user:{g.get('user_id')}",
    )


def _changes(schema: Any) -> dict[str, Any]:
    """The request body with a ``preset`` applied to its destination (services/presets.py)."""
    return presets.with_preset(as_changes(read_json(schema)))


def _saved(link: Link, status: int = 200) -> Response:
    """A saved link with the advice on its destination (``warnings``)."""
    out = links_out([link])[0]
    out.warnings = compliance.destination_warnings(link.destination)
    return respond(out, status)


@bp.get("/links")
@doc(
    "The organisation's links",
    response=LinkList,
    query=(Query("archived", "boolean", "only archived (true) or active (false) links"),),
)
def list_links() -> Response:
    archived = query_bool("archived")
    return respond(LinkList(links=links_out(links.list_links(org_id(), archived))))


@bp.post("/links")
@doc("Create a link (and its generic short URL)", LinkCreate, LinkOut, 201)
def create_link() -> Response:
    changes = _changes(LinkCreate)
    link = links.create_link(org_id(), changes, override=_override(changes))
    return _saved(link, 201)


@bp.get("/links/presets")
@doc("CRM and donation presets: the attribution parameters each page reads", response=LinkPresets)
def link_presets() -> Response:
    return respond(msgspec.convert({"presets": presets.listing()}, LinkPresets))


@bp.get("/links/<int:link_id>")
@doc("One link", response=LinkOut)
def get_link(link_id: int) -> Response:
    return respond(links_out([links.get_link(org_id(), link_id)])[0])


@bp.patch("/links/<int:link_id>")
@doc("Change or archive a link", LinkUpdate, LinkOut)
def update_link(link_id: int) -> Response:
    links.get_link(org_id(), link_id)  # 404 before looking at the body
    changes = _changes(LinkUpdate)
    return _saved(links.update_link(org_id(), link_id, changes, override=_override(changes)))


@bp.post("/links/<int:link_id>/issue")
@doc(
    "Each contact's short URL for this link",
    IssueRequest,
    IssueResult,
    description="Issuing again for a contact returns the same URL.",
)
def issue(link_id: int) -> Response:
    links.get_link(org_id(), link_id)  # 404 before looking at the body
    limit = ISSUE_BODY_FACTOR * int(current_app.config["MAX_JSON_BYTES"])
    body = read_json(IssueRequest, max_bytes=limit)
    issued = codes.issue_codes(org_id(), link_id, body.contact_ids, scheme=short_url_scheme())
    return respond(IssueResult(urls=[IssuedUrl(contact_id=c, url=u) for c, u in issued]))
