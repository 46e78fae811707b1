"""Pages: the audit log (owners), the click retention setting beside it, and a contact's
privacy controls (download everything held about them, delete them for good)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from flask import Response, abort, flash, redirect, render_template, request

from admin.extensions import db
from admin.services import audit, privacy
from admin.services.errors import NotFound, ServiceError
from admin.web import exports
from admin.web.auth import current_org_id, role_required
from admin.web.blueprint import bp
from admin.web.plain import plain

PAGE = 50
KIND_LABELS = {
    "contact": "Contacts (deletions)",
    "domain": "Domains",
    "export": "Exports",
    "link": "Links",
    "provider": "SMS provider",
    "settings": "Settings",
    "team": "Team",
    "token": "API tokens",
    "webhook": "Webhooks",
}


def _cursor() -> int:
    raw = request.args.get("cursor", "")
    # isdecimal, not isdigit: "²" is a digit that int() refuses.
    return int(raw) if raw.isdecimal() and raw.isascii() and len(raw) < 19 else 0


def changed_fields(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[Any]:
    """(field, before, after) for the page: a value absent on one side is None."""
    old, new = before or {}, after or {}
    return [(k, old.get(k), new.get(k)) for k in sorted(set(old) | set(new))]


def shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value or '""'
    return json.dumps(value, ensure_ascii=False)


@bp.get("/audit")
@role_required("owner")
def audit_page() -> Any:
    kind = request.args.get("kind", "")
    if kind not in audit.KINDS:
        kind = ""
    rows, next_id = audit.page(
        current_org_id(), kind=kind or None, before_id=_cursor(), limit=PAGE
    )
    older = urlencode({"kind": kind, "cursor": next_id}) if next_id else ""
    return render_template(
        "audit.html",
        title="Audit log",
        events=rows,
        kind=kind,
        kinds=KIND_LABELS,
        older=older,
        newest=urlencode({"kind": kind}) if _cursor() else "",
        changed_fields=changed_fields,
        shown=shown,
        retention_days=privacy.retention_days(current_org_id()),
        retention_range=privacy.RETENTION_DAYS,
    )


@bp.post("/audit/retention")
@role_required("owner")
def retention_save() -> Any:
    try:
        days = privacy.set_retention(current_org_id(), request.form.get("click_retention_days"))
    except ServiceError as exc:
        db.session.rollback()
        flash(plain(exc.message), "error")
        return redirect("/audit")
    flash(f"Clicks keep their IP address and user agent for {days} days.", "success")
    return redirect("/audit")


@bp.get("/contacts/<int:contact_id>/export.json")
@role_required("admin")
@exports.limited
def contact_export(contact_id: int) -> Any:
    try:
        data = privacy.export_contact(current_org_id(), contact_id)
    except NotFound:
        abort(404)
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2),
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="contact-{contact_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@bp.post("/contacts/<int:contact_id>/delete")
@role_required("admin")
def contact_delete(contact_id: int) -> Any:
    try:
        privacy.erase_contact(current_org_id(), contact_id)
    except NotFound:
        abort(404)
    flash("The contact is deleted and their personal data erased.", "success")
    return redirect("/contacts")
