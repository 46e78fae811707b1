"""Issue per-contact short URLs for a link from the page: a list, a tag, or some contacts."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request
from flask_login import login_required

from admin.appsettings import short_url_scheme
from admin.extensions import db
from admin.services import audiences, codes, links
from admin.services.errors import NotFound, ServiceError
from admin.web import queries
from admin.web.auth import current_org_id
from admin.web.blueprint import bp
from admin.web.plain import plain

SHOWN = 1000


def _audience(org_id: int) -> list[int]:
    """Contact ids chosen in the form; raises ServiceError naming the field at fault."""
    kind = request.form.get("audience", "contacts")
    if kind == "list":
        return audiences.list_member_ids(org_id, request.form.get("list", ""))
    if kind == "tag":
        return audiences.tag_contact_ids(org_id, request.form.get("tag", ""))
    return audiences.typed_contact_ids(org_id, request.form.get("contacts", ""), "contacts")


@bp.post("/links/<int:link_id>/issue")
@login_required
def link_issue(link_id: int) -> Any:
    org_id = current_org_id()
    try:
        link = links.get_link(org_id, link_id)
    except NotFound:
        abort(404)
    try:
        ids = _audience(org_id)
        if not ids:
            flash("Nobody is in that audience.", "warning")
            return redirect(f"/links/{link_id}#issue")
        issued = codes.issue_codes(org_id, link.id, ids, scheme=short_url_scheme())
    except ServiceError as exc:
        db.session.rollback()
        flash(plain(exc.message), "error")
        return redirect(f"/links/{link_id}#issue")
    shown = issued[:SHOWN]
    people = queries.contacts_by_id(org_id, [i for i, _ in shown])
    link = links.get_link(org_id, link_id)
    return (
        render_template(
            "links/issued.html",
            title="Short URLs issued",
            link=link,
            rows=[(people.get(cid), url) for cid, url in shown],
            total=len(issued),
        ),
        200,
        {"Cache-Control": "no-store"},
    )
