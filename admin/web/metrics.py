"""A link's page: counts, a chart over time, devices, updating live (polled every second);
a metric's contacts and their CSV export. The numbers come from admin.services.metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Response, abort, jsonify, render_template, request
from flask_login import login_required
from sqlalchemy import text

from admin.appsettings import short_url_scheme
from admin.downloads import csv_attachment
from admin.extensions import db
from admin.models import Link
from admin.services import codes, links, metrics
from admin.services.errors import NotFound
from admin.web import exports, queries
from admin.web.auth import current_org_id
from admin.web.blueprint import bp
from admin.web.zones import display_zone

METRIC_LABELS = {
    "clicks": "Clicks",
    "unique_clicks": "Unique clicks",
    "previews": "Previews and bots",
}
# Chart ranges: name -> (bucket, label); the span is the service's default for the bucket.
RANGES = {
    "minute": "last hour, per minute",
    "hour": "last 48 hours, per hour",
    "day": "last 30 days, per day",
}
PAGE_SIZE = 100


def _link(link_id: int) -> Link:
    try:
        return links.get_link(current_org_id(), link_id)
    except NotFound:
        abort(404)


def _metric() -> str:
    metric = request.args.get("metric", "clicks")
    if metric not in metrics.METRICS:
        # The page's words, not the query's (a person only gets here by editing the address).
        page = render_template(
            "error.html",
            title="No such figure",
            message="Choose clicks, unique clicks, previews or bots.",
        )
        abort(Response(page, 400))
    return metric


def _range() -> str | None:
    value = request.args.get("range")
    return value if value in RANGES else None


def pick_range(org_id: int, link_id: int) -> str:
    """The finest range that still shows the link's first click."""
    first = db.session.scalar(
        text("SELECT min(at) FROM clicks WHERE link_id = :link AND org_id = :org"),
        {"link": link_id, "org": org_id},
    )
    if first is None:
        return "minute"
    for bucket in RANGES:
        if datetime.now(UTC) - first <= metrics.DEFAULT_SPAN[bucket]:
            return bucket
    return "day"


def detail_context(link: Link) -> dict[str, Any]:
    """What the link's page shows (issue.py renders it again with the issuing form's error)."""
    org_id = link.org_id
    generic = links.generic_codes([link.id]).get(link.id)
    return {
        "title": link.name or "Link",
        "link": link,
        "short_url": codes.short_url(link, generic, short_url_scheme()) if generic else "",
        "counts": metrics.counters(org_id, link.id),
        "range_name": _range() or pick_range(org_id, link.id),
        "ranges": RANGES,
        "metric_labels": METRIC_LABELS,
        "image": queries.upload_for_url(org_id, link.preview_image_url),
        "lists": queries.list_names(org_id),
        "tags": queries.tag_names(org_id),
        "now": datetime.now(UTC),
        "zone_name": display_zone(),
        "issue_form": {},
        "issue_error": None,
    }


@bp.get("/links/<int:link_id>")
@login_required
def link_page(link_id: int) -> Any:
    return render_template("links/detail.html", **detail_context(_link(link_id)))


@bp.get("/links/<int:link_id>/metrics.json")
@login_required
def link_metrics_json(link_id: int) -> Any:
    """The counters (one row: cheap enough to poll twice a second); with ``?full=1`` also the
    series and the device breakdown, which the page asks for when a counter moved."""
    org_id = current_org_id()
    link = _link(link_id)
    counts = metrics.counters(org_id, link.id)
    body: dict[str, Any] = {
        "counts": {k: counts[k] for k in ("clicks", "unique_clicks", "previews", "bots")}
    }
    if request.args.get("full") == "1":
        bucket = _range() or "minute"
        points = metrics.series(org_id, link.id, bucket)
        found = metrics.breakdown(org_id, link.id)
        body["series"] = {
            "bucket": bucket,
            "label": RANGES[bucket],
            "starts": [p["t"].isoformat() for p in points],
            "human": [p["clicks"] for p in points],
            "preview": [p["previews"] for p in points],
        }
        body["devices"] = [{"name": d["name"], "count": d["clicks"]} for d in found["device"][:8]]
        body["os"] = [{"name": d["name"], "count": d["clicks"]} for d in found["os"][:8]]
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/links/<int:link_id>/contacts")
@login_required
def link_contacts(link_id: int) -> Any:
    link = _link(link_id)
    metric = _metric()
    after = max(0, request.args.get("cursor", 0, type=int) or 0)
    rows, next_after = metrics.contacts_page(current_org_id(), link.id, metric, after, PAGE_SIZE)
    return render_template(
        "links/contacts.html",
        title=f"{METRIC_LABELS.get(metric, 'Bots')} · {link.name or 'link'}",
        link=link,
        metric=metric,
        metric_labels=METRIC_LABELS,
        rows=rows,
        next_after=next_after,
        back=request.full_path,
        names=queries.list_names(current_org_id()) + queries.tag_names(current_org_id()),
    )


@bp.get("/links/<int:link_id>/export.csv")
@login_required
@exports.limited
def link_export(link_id: int) -> Any:
    link = _link(link_id)
    metric = _metric()
    chunks = metrics.export_csv(current_org_id(), link.id, metric)
    return csv_attachment(chunks, f"link-{link.id}-{metric}.csv")
