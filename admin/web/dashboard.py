"""The organisation at a glance: clicks per day across links over a chosen range of dates in
the person's time zone, people apart from link previews and bots, the shared URLs' anonymous
clicks apart, the top links, and the recent broadcasts. ``?link=`` narrows it to one link.

Also the time zone settings (the organisation's, and a person's own)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from flask import flash, redirect, render_template, request
from flask_login import login_required

from admin.extensions import db
from admin.services import conversations, zones
from admin.services.errors import ServiceError
from admin.web import queries
from admin.web.auth import current_org_id, web_user
from admin.web.blueprint import bp
from admin.web.plain import plain
from admin.web.zones import display_zone, zone

DEFAULT_DAYS = 30
MAX_DAYS = 366
CHART = (600, 180)  # the bar chart's viewBox


def _day(name: str) -> date | None:
    value = request.args.get(name, "")
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def date_range(today: date) -> tuple[date, date, str | None]:
    """The first and last day asked for (both included), and a problem to show if any."""
    first, last = _day("from"), _day("to")
    problem = None
    if any(request.args.get(k) for k in ("from", "to")) and (first is None or last is None):
        problem = "Dates are like 2026-05-31; showing the last 30 days."
        first = last = None
    last = last or today
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        first, last, problem = last, first, "The range was back to front; it is turned round."
    if (last - first).days >= MAX_DAYS:
        first, problem = last - timedelta(days=MAX_DAYS - 1), "At most a year at once."
    return first, last, problem


@bp.get("/dashboard")
@login_required
def dashboard() -> Any:
    org_id = current_org_id()
    tz = display_zone()
    today = datetime.now(zone(tz)).date()
    first, last, problem = date_range(today)
    start = datetime.combine(first, time(), zone(tz))
    end = datetime.combine(last + timedelta(days=1), time(), zone(tz))
    link_id = request.args.get("link", type=int)
    link = queries.link(org_id, link_id) if link_id and 0 < link_id < 2**63 else None
    if problem:
        flash(problem, "warning")
    days = queries.clicks_by_day(org_id, start, end, tz, link.id if link else None)
    totals = {k: sum(d[k] for d in days.values()) for k in ("human", "preview", "bot")}
    series = [(first + timedelta(days=i)) for i in range((last - first).days + 1)]
    rows = [(d, days.get(d, {"human": 0, "preview": 0, "bot": 0})) for d in series]
    top = max([r["human"] + r["preview"] for _, r in rows] or [0]) or 1
    return render_template(
        "dashboard.html",
        title="Dashboard",
        first=first,
        last=last,
        zone_name=tz,
        link=link,
        rows=rows,
        top=top,
        chart=CHART,
        totals=totals,
        people=queries.people_in_range(org_id, start, end, link.id if link else None),
        anonymous=queries.anonymous_clicks(org_id, start, end, link.id if link else None),
        top_links=[] if link else queries.top_links(org_id, start, end, 10),
        broadcasts=conversations.list_broadcasts(org_id, 5),
        referrers=queries.top_referrers(org_id, start, end, link.id if link else None, 8),
        presets=[(label, today - timedelta(days=n - 1), today) for label, n in
                 (("7 days", 7), ("30 days", 30), ("90 days", 90))],
    )  # fmt: skip


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings_page() -> Any:
    user = web_user()
    if request.method == "POST":
        try:
            if "org_time_zone" in request.form:
                if not user.has_role("admin"):
                    flash("Only an admin can change the organisation's time zone.", "error")
                    return redirect("/settings")
                zones.set_org_zone(user.org_id, request.form.get("org_time_zone"))
            zones.set_user_zone(user.org_id, user.user_id, request.form.get("time_zone", ""))
        except ServiceError as exc:
            db.session.rollback()
            flash(plain(exc.message), "error")
            return redirect("/settings")
        flash("Time zones saved.", "success")
        return redirect("/settings")
    org_zone, own = zones.zones_of(user.org_id, user.user_id)
    return render_template(
        "settings.html",
        title="Settings",
        zones=zones.names(),
        org_zone=org_zone,
        own_zone=own,
        may_change_org=user.has_role("admin"),
    )
