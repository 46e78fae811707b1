"""Issue per-contact short URLs for a link from the page: a list, a tag, or some contacts."""

from __future__ import annotations

import re
from typing import Any

from flask import abort, flash, redirect, render_template, request
from flask_login import login_required
from sqlalchemy import select

from admin.extensions import db
from admin.models import Contact, ContactList, ContactTag, ListMember, Tag
from admin.services import codes, contacts, links
from admin.services.errors import NotFound, ServiceError
from admin.web import bp
from admin.web.auth import current_org_id

SHOWN = 1000
MAX_TYPED = 10_000


def _audience(org_id: int) -> list[int]:
    """Contact ids chosen in the form; raises ServiceError naming the field at fault."""
    kind = request.form.get("audience", "contacts")
    if kind == "list":
        name = request.form.get("list", "").replace("\x00", "")  # no name holds NUL
        return list(
            db.session.scalars(
                select(ListMember.contact_id)
                .join(ContactList, ContactList.id == ListMember.list_id)
                .where(ContactList.org_id == org_id, ContactList.name == name)
                .order_by(ListMember.contact_id)
            )
        )
    if kind == "tag":
        name = request.form.get("tag", "").replace("\x00", "")
        return list(
            db.session.scalars(
                select(ContactTag.contact_id)
                .join(Tag, Tag.id == ContactTag.tag_id)
                .where(Tag.org_id == org_id, Tag.name == name)
                .order_by(ContactTag.contact_id)
            )
        )
    typed = [
        t.strip() for t in re.split(r"[\r\n,;]+", request.form.get("contacts", "")) if t.strip()
    ]
    if not typed:
        raise NotFound("contacts", "type phone numbers or contact ids, one per line")
    if len(typed) > MAX_TYPED:
        raise NotFound("contacts", f"at most {MAX_TYPED} typed contacts; use a list")
    ids: list[int] = []
    phones = []
    for token in typed:
        if token.isdecimal() and len(token) < 10:
            ids.append(int(token))
        else:
            phones.append(contacts.normalize_phone(token, "contacts"))
    if phones:
        rows = db.session.execute(
            select(Contact.phone, Contact.id).where(
                Contact.org_id == org_id, Contact.phone.in_(phones)
            )
        )
        found = {phone: contact_id for phone, contact_id in rows}
        missing = [p for p in phones if p not in found]
        if missing:
            raise NotFound("contacts", "no contact with phone " + ", ".join(missing[:5]))
        ids.extend(found[p] for p in phones)
    return ids


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
        issued = codes.issue_codes(org_id, link.id, ids)
    except ServiceError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(f"/links/{link_id}#issue")
    shown = issued[:SHOWN]
    people = {
        c.id: c
        for c in db.session.scalars(
            select(Contact).where(Contact.org_id == org_id, Contact.id.in_([i for i, _ in shown]))
        )
    }
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
