"""Issue per-contact short URLs for a link from the page: a list, a tag, or some contacts.

Typed contacts go ahead for those known; the rest are listed apart. An error is shown beside
the form, with what was typed kept. The issued URLs download as CSV (issuing again returns
the same URLs, so the download posts the same audience again).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from flask import Response, render_template, request
from flask_login import login_required

from admin.appsettings import short_url_scheme
from admin.downloads import csv_attachment
from admin.extensions import db
from admin.models import Link
from admin.services import audiences, audit, codes, links, metrics
from admin.services.errors import ServiceError, ValidationError
from admin.web import exports, queries
from admin.web.auth import current_org_id
from admin.web.blueprint import bp, or_404
from admin.web.metrics import detail_context
from admin.web.plain import plain

SHOWN = 1000
AUDIENCE_FIELDS = ("audience", "contacts", "list", "tag")
CSV_CHUNK = 1000


def _link(org_id: int, link_id: int) -> Link:
    return or_404(links.get_link, org_id, link_id)


def _audience(org_id: int) -> audiences.Typed:
    """Contacts chosen in the form (and what was typed but is nobody); raises ServiceError
    naming the field at fault."""
    kind = request.form.get("audience", "contacts")
    if kind == "list":
        return audiences.Typed(audiences.list_member_ids(org_id, request.form.get("list", "")), [])
    if kind == "tag":
        return audiences.Typed(audiences.tag_contact_ids(org_id, request.form.get("tag", "")), [])
    return audiences.typed_contacts(org_id, request.form.get("contacts", ""), "contacts")


def _issue(org_id: int, link: Link) -> tuple[list[tuple[int, str]], list[str]]:
    chosen = _audience(org_id)
    if not chosen.ids:
        field = "contacts" if request.form.get("audience", "contacts") == "contacts" else "audience"
        if chosen.unknown:
            raise ValidationError(
                field, "none of these is one of your contacts: " + _shown(chosen.unknown)
            )
        raise ValidationError(field, "nobody is in that audience")
    issued = codes.issue_codes(org_id, link.id, chosen.ids, scheme=short_url_scheme())
    return issued, chosen.unknown


def _shown(values: list[str], most: int = 10) -> str:
    return ", ".join(values[:most]) + (
        f" and {len(values) - most} more" if len(values) > most else ""
    )


@bp.post("/links/<int:link_id>/issue")
@login_required
def link_issue(link_id: int) -> Any:
    org_id = current_org_id()
    link = _link(org_id, link_id)
    try:
        issued, unknown = _issue(org_id, link)
    except ServiceError as exc:
        db.session.rollback()
        context = detail_context(link)
        context.update(
            issue_form={k: request.form.get(k, "") for k in AUDIENCE_FIELDS},
            issue_error={"field": exc.field or "contacts", "message": plain(exc.message)},
        )
        return render_template("links/detail.html", **context), 400
    shown = issued[:SHOWN]
    people = queries.contacts_by_id(org_id, [i for i, _ in shown])
    return (
        render_template(
            "links/issued.html",
            title="Short URLs issued",
            link=link,
            rows=[(people.get(cid), url) for cid, url in shown],
            total=len(issued),
            unknown=unknown,
            audience={k: request.form.get(k, "") for k in AUDIENCE_FIELDS},
        ),
        200,
        {"Cache-Control": "no-store"},
    )


@bp.post("/links/<int:link_id>/issue.csv")
@login_required
@exports.limited
def link_issue_csv(link_id: int) -> Any:
    """The issued URLs as CSV: contact id, names, phone (as the API shows it), URL."""
    org_id = current_org_id()
    link = _link(org_id, link_id)
    try:
        issued, _unknown = _issue(org_id, link)
    except ServiceError as exc:
        db.session.rollback()
        return Response(plain(exc.message) + "\n", 400, mimetype="text/plain")
    audit.record(org_id, "export.issued_urls", f"link {link_id}", detail={"people": len(issued)})
    db.session.commit()

    def rows() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["contact_id", "first_name", "last_name", "phone", "url"])
        for start in range(0, len(issued), CSV_CHUNK):
            chunk = issued[start : start + CSV_CHUNK]
            people = queries.contacts_by_id(org_id, [i for i, _ in chunk])
            for contact_id, url in chunk:
                c = people.get(contact_id)
                names = (c.first_name or "", c.last_name or "") if c else ("", "")
                # A name that starts like a formula is defused (the metrics export does too).
                writer.writerow(
                    [contact_id, *map(metrics.neutralise, names), c.phone if c else "", url]
                )
            yield out.getvalue()
            out.seek(0)
            out.truncate()

    return csv_attachment(rows(), f"link-{link_id}-urls.csv")
