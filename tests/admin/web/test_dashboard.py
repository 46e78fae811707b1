"""The dashboard's custom date ranges in the person's time zone, people apart from previews and
bots and the shared URL's anonymous clicks, and the time zone settings."""

from __future__ import annotations

import re

from sqlalchemy import text

from admin.extensions import db
from admin.models import User
from admin.services.orgs import NewOrg
from tests.conftest import Api
from tests.helpers.web import Web


def _link(api: Api) -> dict:
    api.post("/api/v1/domains", {"hostname": "go.dash.test"})
    return api.post(
        "/api/v1/links",
        {"name": "Rally", "destination": "https://example.org/", "domain": "go.dash.test"},
    ).get_json()


def _hit(
    org: NewOrg,
    link_id: int,
    at: str,
    kind: str = "human",
    contact: int | None = None,
    referer: str = "",
) -> None:
    n = db.session.execute(text("SELECT count(*) FROM clicks")).scalar_one()
    db.session.execute(
        text(
            "INSERT INTO clicks (click_id, org_id, link_id, code, contact_id, at, kind, referer)"
            " VALUES (:cid, :org, :link, 'x', :contact, CAST(:at AS timestamptz), :kind, :ref)"
        ),
        {
            "cid": f"d{n}",
            "org": org.org_id,
            "link": link_id,
            "contact": contact,
            "at": at,
            "ref": referer,
            "kind": kind,
        },
    )
    db.session.commit()


def _days(html: str) -> list[str]:
    return re.findall(r'<rect class="bar" data-day="([\d-]+)"', html)


def test_a_custom_range_in_the_organisations_time_zone(api: Api, web: Web, org: NewOrg) -> None:
    link = _link(api)
    ada = api.post("/api/v1/contacts", {"phone": "+15550400001"}).get_json()["id"]
    _hit(org, link["id"], "2026-03-10T03:30:00Z", contact=ada)  # 23:30 on the 9th in New York
    _hit(org, link["id"], "2026-03-10T12:00:00Z", contact=ada)
    # The shared URL (anonymous), from a Facebook post.
    _hit(org, link["id"], "2026-03-10T13:00:00Z", referer="https://www.facebook.com/x?y=1")
    _hit(org, link["id"], "2026-03-10T14:00:00Z", kind="preview")
    _hit(org, link["id"], "2026-03-10T15:00:00Z", kind="bot")
    _hit(org, link["id"], "2026-04-01T12:00:00Z")  # out of the range
    page = web.get("/dashboard?from=2026-03-01&to=2026-03-31").get_data(as_text=True)
    assert _days(page) == ["2026-03-10"]
    stats = dict(
        re.findall(r'data-range-stat="(\w+)">.*?<div class="stat-value">([^<]+)<', page, re.S)
    )
    assert stats == {"clicks": "3", "people": "1", "anonymous": "1", "previews": "1 · 1"}
    assert "Days in UTC" in page and 'id="unique-explained"' in page
    referrers = re.search(r'<ul class="top-links" id="referrers">(.*?)</ul>', page, re.S)
    assert referrers and re.findall(r"<li>([^<]+?) <span", referrers.group(1)) == [
        "No referrer (a text message or an app)", "www.facebook.com",
    ]  # fmt: skip
    assert (
        web.post(
            "/settings", {"org_time_zone": "America/New_York", "time_zone": ""}, page="/settings"
        ).status_code
        == 302
    )
    page = web.get("/dashboard?from=2026-03-01&to=2026-03-31").get_data(as_text=True)
    assert _days(page) == ["2026-03-09", "2026-03-10"]
    assert "Days in America/New_York" in page
    # One link's range, and a range that excludes the late-evening click in New York.
    one = web.get(f"/dashboard?link={link['id']}&from=2026-03-10&to=2026-03-10").get_data(
        as_text=True
    )
    assert _days(one) == ["2026-03-10"] and "Rally · custom range" in one


def test_odd_ranges_answer_a_page(web: Web) -> None:
    for query in (
        "from=nope&to=2026-01-01",
        "from=2026-02-30&to=x",
        "from=2026-05-01&to=2026-01-01",
        "from=2000-01-01&to=2026-01-01",
        "link=99999999999999999999",
        "link=-3",
    ):
        assert web.get(f"/dashboard?{query}").status_code == 200, query
    assert "back to front" in web.get("/dashboard?from=2026-05-01&to=2026-01-01").get_data(
        as_text=True
    )


def test_time_zones_person_over_organisation(api: Api, web: Web, org: NewOrg) -> None:
    link = _link(api)
    db.session.execute(
        text(
            "UPDATE links SET created_at = '2026-01-15T12:00:00Z', expires_at = '2026-01-15T12:00:00Z'"
        )
    )
    db.session.commit()
    assert "2026-01-15 12:00 UTC" in web.get(f"/links/{link['id']}").get_data(as_text=True)
    web.post("/settings", {"org_time_zone": "Europe/Paris", "time_zone": ""}, page="/settings")
    assert "2026-01-15 13:00 CET" in web.get(f"/links/{link['id']}").get_data(as_text=True)
    web.post(
        "/settings", {"org_time_zone": "Europe/Paris", "time_zone": "Asia/Tokyo"}, page="/settings"
    )
    page = web.get(f"/links/{link['id']}").get_data(as_text=True)
    assert "2026-01-15 21:00 JST" in page
    # The live chart labels its minutes in that zone too, and says so.
    assert 'data-zone="Asia/Tokyo"' in page and "Times in Asia/Tokyo" in page
    assert db.session.get(User, org.user_id).time_zone == "Asia/Tokyo"
    # The link form reads its datetime-local in the person's zone.
    edit = web.get(f"/links/{link['id']}/edit").get_data(as_text=True)
    assert 'value="2026-01-15T21:00"' in edit and "(Asia/Tokyo)" in edit
    refused = web.post("/settings", {"time_zone": "Mars/Olympus"}, page="/settings")
    assert refused.status_code == 302
    assert "time zone like" in web.get("/settings").get_data(as_text=True)
    assert db.session.get(User, org.user_id).time_zone == "Asia/Tokyo"
