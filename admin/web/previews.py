"""The destination builder's live preview: a template merged for one contact (core.merge)."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask_login import login_required

from admin.models import Contact
from admin.services import contacts
from admin.services.errors import NotFound, ServiceError
from admin.services.links import destination as check_destination
from admin.web.auth import current_org_id
from admin.web.blueprint import bp
from admin.web.plain import plain
from core.merge import check_merged, parse_template
from core.records import ContactRecord


def contact_record(contact: Contact) -> ContactRecord:
    return ContactRecord(
        id=contact.id,
        org_id=contact.org_id,
        version=contact.version,
        phone=contact.phone,
        first_name=contact.first_name,
        last_name=contact.last_name,
        email=contact.email,
        fields={k: str(v) for k, v in (contact.fields or {}).items()},
    )


@bp.get("/links/merge-preview.json")
@login_required
def merge_preview() -> Any:
    source = request.args.get("destination", "")
    contact_id = request.args.get("contact_id", type=int)
    try:
        template = parse_template(check_destination(source))
    except ServiceError as exc:
        return jsonify(error=plain(exc.message), url=None)
    record = None
    if contact_id:
        try:
            record = contact_record(contacts.get_contact(current_org_id(), contact_id))
        except NotFound:
            return jsonify(error="no such contact", url=None), 404
    url = template.render(record)
    if not check_merged(url, template):
        return jsonify(error="the merged URL is too long or malformed", url=None)
    return jsonify(url=url, error=None, placeholders=[p.name for p in template.placeholders])
