"""Links at a glance: what the list shows of each link (personal URLs, the shared URL, click
rate, a 7-day sparkline), the shared URL's QR code for print, and bulk archive or folder."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import segno
from flask import Response, abort, flash, redirect, request
from flask_login import login_required

from admin.appsettings import short_url_scheme
from admin.extensions import db
from admin.services import codes, links
from admin.services.errors import NotFound, ServiceError
from admin.web import queries
from admin.web.auth import current_org_id
from admin.web.blueprint import bp
from admin.web.plain import plain

SPARK_DAYS = 7
SPARK_SIZE = (84, 24)  # px, the sparkline's box
QR_SCALE = {"png": 10, "svg": 10}  # px per module: a 1000-px-ish PNG prints sharp at 8 cm
BULK_MAX = 200


@dataclass(frozen=True)
class Glance:
    personal_urls: int
    people_clicked: int
    days: list[int]

    @property
    def rate(self) -> str:
        """The share of the people with a URL who clicked it, or "—" before any is issued."""
        if not self.personal_urls:
            return "—"
        return f"{round(100 * self.people_clicked / self.personal_urls)}%"

    @property
    def spark(self) -> str:
        """The sparkline's polyline points, oldest day at the left, in SPARK_SIZE."""
        width, height = SPARK_SIZE
        top = max(self.days) or 1
        step = width / (len(self.days) - 1)
        return " ".join(
            f"{i * step:.1f},{height - 2 - (height - 4) * n / top:.1f}"
            for i, n in enumerate(self.days)
        )


def glances(org_id: int, link_ids: list[int], tz: str) -> dict[int, Glance]:
    personal = queries.personal_url_counts(org_id, link_ids)
    people = queries.people_clicked(org_id, link_ids)
    days = queries.daily_clicks(org_id, link_ids, SPARK_DAYS, tz)
    return {
        i: Glance(personal.get(i, 0), people.get(i, 0), days.get(i, [0] * SPARK_DAYS))
        for i in link_ids
    }


def shared_url(org_id: int, link_id: int) -> str | None:
    """The link's shared (generic, contact-less) short URL; None for another's link."""
    try:
        link = links.get_link(org_id, link_id)
    except NotFound:
        return None
    code = links.generic_codes([link.id]).get(link.id)
    return codes.short_url(link, code, short_url_scheme()) if code else None


@bp.get("/links/<int:link_id>/qr.<any(png, svg):kind>")
@login_required
def link_qr(link_id: int, kind: str) -> Any:
    url = shared_url(current_org_id(), link_id)
    if url is None:
        abort(404)
    out = io.BytesIO()
    # Error correction M survives a smudge or a fold of a printed poster.
    segno.make(url, error="m").save(out, kind=kind, scale=QR_SCALE[kind], border=4)
    mimetype = "image/png" if kind == "png" else "image/svg+xml"
    headers = {"Cache-Control": "private, max-age=300"}
    if request.args.get("download"):
        headers["Content-Disposition"] = f'attachment; filename="link-{link_id}-qr.{kind}"'
    return Response(out.getvalue(), mimetype=mimetype, headers=headers)


@bp.post("/links/bulk")
@login_required
def links_bulk() -> Any:
    """Archive, restore or file the links ticked on the list."""
    org_id = current_org_id()
    back = request.form.get("back", "/links")
    if not back.startswith("/links") or back.startswith("//"):
        back = "/links"
    ids = sorted(
        {
            int(v)
            for v in request.form.getlist("link_ids")
            if v.isascii() and v.isdigit() and len(v) < 19
        }
    )
    action = request.form.get("action", "")
    if not ids:
        flash("Tick the links first.", "warning")
        return redirect(back)
    if len(ids) > BULK_MAX:
        flash(f"At most {BULK_MAX} links at once.", "error")
        return redirect(back)
    if action == "archive":
        change: dict[str, Any] = {"archived": True}
    elif action == "restore":
        change = {"archived": False}
    elif action == "folder":
        change = {"folder": request.form.get("folder", "")}
    else:
        flash("Choose what to do with the ticked links.", "error")
        return redirect(back)
    done = 0
    try:
        for link_id in ids:
            links.update_link(org_id, link_id, change)
            done += 1
    except NotFound:
        db.session.rollback()
    except ServiceError as exc:
        db.session.rollback()
        flash(plain(exc.message), "error")
        return redirect(back)
    words = {"archive": "archived", "restore": "restored", "folder": "moved"}[action]
    flash(f"{done} link{'s' if done != 1 else ''} {words}.", "success")
    return redirect(back)
