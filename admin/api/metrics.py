"""API routes: a link's click metrics, series, breakdown, the contacts behind each metric and
their CSV export."""

from __future__ import annotations

from flask import Response

from admin.api.auth import org_id
from admin.api.blueprint import bp
from admin.api.bodies import respond
from admin.api.errors import ApiError, not_found
from admin.api.openapi import Query, doc
from admin.api.params import invalid, query_choice, query_datetime, query_int
from admin.downloads import csv_attachment
from admin.schemas.metrics import (
    BreakdownOut,
    BroadcastCountOut,
    CountOut,
    MetricContactsOut,
    MetricsOut,
    PointOut,
    SeriesOut,
)
from admin.services import metrics
from admin.services.metrics import MetricsError

MAX_PAGE = 1000
DEFAULT_PAGE = 100

# Which metric's contacts: the drill-down and its CSV take the same parameter.
METRIC_QUERY = Query("metric", "string", "clicks | unique_clicks | previews | bots (default clicks)")


def _link_id_in_org(link_id: int) -> int:
    if metrics.link_in_org(org_id(), link_id) is None:
        raise not_found("link")
    return link_id


def _bad(exc: MetricsError) -> ApiError:
    return invalid(exc.field, exc.message)


def _metric() -> str:
    return query_choice("metric", metrics.METRICS, "clicks")


@bp.get("/links/<int:link_id>/metrics")
@doc(
    "A link's clicks, unique clicks, previews and bots (current within a second of a click)",
    response=MetricsOut,
)
def link_metrics(link_id: int) -> Response:
    _link_id_in_org(link_id)
    return respond(MetricsOut(link_id=link_id, **metrics.counters(org_id(), link_id)))


@bp.get("/links/<int:link_id>/series")
@doc(
    "Clicks and previews per minute, hour or day (UTC), empty buckets included",
    response=SeriesOut,
    query=(
        Query("bucket", "string", "minute | hour | day (default hour)"),
        Query("from", "string", "ISO 8601 start (default: 1 hour, 48 hours or 30 days back)"),
        Query("to", "string", "ISO 8601 end (default now)"),
    ),
)
def link_series(link_id: int) -> Response:
    _link_id_in_org(link_id)
    bucket = query_choice("bucket", metrics.BUCKETS, "hour")
    start, end = query_datetime("from"), query_datetime("to")
    try:
        points = metrics.series(org_id(), link_id, bucket, start, end)
    except MetricsError as exc:
        raise _bad(exc) from None
    return respond(SeriesOut(link_id, bucket, [PointOut(**p) for p in points]))


@bp.get("/links/<int:link_id>/breakdown")
@doc("Human clicks by device, OS, browser and broadcast", response=BreakdownOut)
def link_breakdown(link_id: int) -> Response:
    _link_id_in_org(link_id)
    found = metrics.breakdown(org_id(), link_id)
    return respond(
        BreakdownOut(
            link_id=link_id,
            device=[CountOut(**c) for c in found["device"]],
            os=[CountOut(**c) for c in found["os"]],
            browser=[CountOut(**c) for c in found["browser"]],
            broadcasts=[BroadcastCountOut(**b) for b in found["broadcasts"]],
        )
    )


@bp.get("/links/<int:link_id>/contacts")
@doc(
    "The contacts behind a metric, one each, in pages",
    response=MetricContactsOut,
    query=(
        METRIC_QUERY,
        Query("limit", "integer", f"page size, 1-{MAX_PAGE} (default {DEFAULT_PAGE})"),
        Query("cursor", "string", "the next of the previous page"),
    ),
)
def link_contacts(link_id: int) -> Response:
    _link_id_in_org(link_id)
    metric = _metric()
    after = query_int("cursor", 0, 0, 2**63 - 1)
    limit = query_int("limit", DEFAULT_PAGE, 1, MAX_PAGE)
    rows, next_after = metrics.contacts_page(org_id(), link_id, metric, after, limit)
    return respond(
        MetricContactsOut(
            metric=metric,
            contacts=rows,
            next=str(next_after) if next_after is not None else None,
        )
    )


@bp.get("/links/<int:link_id>/export.csv")
@doc(
    "The contacts behind a metric as CSV (streamed; formula-like cells start with ')",
    query=(METRIC_QUERY,),
    response_media={"text/csv": {"schema": {"type": "string"}}},
)
def link_export(link_id: int) -> Response:
    _link_id_in_org(link_id)
    metric = _metric()
    chunks = metrics.export_csv(org_id(), link_id, metric)
    return csv_attachment(chunks, f"link-{link_id}-{metric}.csv")
