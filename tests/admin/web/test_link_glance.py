"""Links at a glance: personal URLs, the shared URL labelled, click rate, a 7-day sparkline,
sorting, folders, bulk archive, the QR code, and expiry in the form and the list."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from admin.extensions import db
from admin.models import Link
from admin.services.orgs import NewOrg
from tests.conftest import Api
from tests.helpers.web import Web

HOST = "go.glance.test"


def _link(api: Api, name: str, **extra: object) -> dict:
    made = api.post(
        "/api/v1/links",
        {"name": name, "destination": "https://example.org/", "domain": HOST, **extra},
    )
    assert made.status_code == 201, made.get_json()
    return made.get_json()


def _contacts(api: Api, n: int) -> list[int]:
    return [
        api.post("/api/v1/contacts", {"phone": f"+1555010{i:04d}"}).get_json()["id"]
        for i in range(n)
    ]


def _click(org_id: int, link_id: int, contact_id: int | None, days_ago: int, n: int) -> None:
    """Clicks as drain records them (rows in clicks and the per-contact table)."""
    for i in range(n):
        db.session.execute(
            text(
                "INSERT INTO clicks (click_id, org_id, link_id, code, contact_id, at, kind)"
                " VALUES (:cid, :org, :link, 'x', :contact, now() - make_interval(days => :ago),"
                " 'human')"
            ),
            {"cid": f"c{link_id}-{days_ago}-{i}-{contact_id}", "org": org_id, "link": link_id,
             "contact": contact_id, "ago": days_ago},
        )  # fmt: skip
    if contact_id is not None:
        db.session.execute(
            text(
                "INSERT INTO link_contact_clicks (link_id, contact_id, org_id, clicks, first_at,"
                " last_at) VALUES (:link, :contact, :org, :n, now(), now())"
            ),
            {"link": link_id, "contact": contact_id, "org": org_id, "n": n},
        )
    db.session.commit()


def _row(html: str, link_id: int) -> str:
    found = re.search(rf'<tr data-link-id="{link_id}">(.*?)</tr>', html, re.S)
    assert found, f"no row for link {link_id}"
    return found.group(1)


def test_each_link_shows_personal_urls_shared_url_rate_and_sparkline(
    api: Api, web: Web, org: NewOrg
) -> None:
    api.post("/api/v1/domains", {"hostname": HOST})
    link = _link(api, "Gala")
    people = _contacts(api, 4)
    api.post(f"/api/v1/links/{link['id']}/issue", {"contact_ids": people})
    _click(org.org_id, link["id"], people[0], days_ago=0, n=2)
    _click(org.org_id, link["id"], None, days_ago=2, n=3)  # anonymous, on the shared URL
    row = _row(web.get("/links").get_data(as_text=True), link["id"])
    assert re.search(r"data-personal-urls>\s*4\s*<", row)
    assert "Shared URL" in web.get("/links").get_data(as_text=True)
    assert f"data-shared-url>{link['url']}<" in row
    assert f'data-copy="{link["url"]}"' in row
    # One of the four people clicked their own URL: 25 %.
    assert re.search(r"data-click-rate>\s*25%\s*<", row)
    assert 'data-spark="0,0,0,0,3,0,2"' in row
    assert "<polyline points=" in row


def test_sorting_folders_and_bulk_archive(api: Api, web: Web, org: NewOrg) -> None:
    api.post("/api/v1/domains", {"hostname": HOST})
    bravo = _link(api, "Bravo", folder="Spring")
    alpha = _link(api, "alpha")
    charlie = _link(api, "Charlie", folder="Spring")
    _click(org.org_id, alpha["id"], None, days_ago=0, n=1)
    db.session.execute(
        text("UPDATE link_counters SET clicks = 1 WHERE link_id = :l"), {"l": alpha["id"]}
    )
    db.session.execute(
        text("INSERT INTO link_counters (link_id, org_id, clicks) VALUES (:l, :o, 5)"),
        {"l": charlie["id"], "o": org.org_id},
    )
    db.session.commit()

    def order(query: str) -> list[int]:
        html = web.get(f"/links?{query}").get_data(as_text=True)
        return [int(i) for i in re.findall(r'<tr data-link-id="(\d+)">', html)]

    assert order("sort=name") == [alpha["id"], bravo["id"], charlie["id"]]
    assert order("sort=oldest") == [bravo["id"], alpha["id"], charlie["id"]]
    assert order("sort=clicks")[0] == charlie["id"]
    assert order("folder=Spring&sort=name") == [bravo["id"], charlie["id"]]
    assert order("sort=nonsense") == order("")  # an unknown order is the default, not a 500

    moved = web.post(
        "/links/bulk",
        {"action": "folder", "folder": "Autumn", "link_ids": [str(alpha["id"])]},
        page="/links",
    )
    assert moved.status_code == 302
    assert db.session.get(Link, alpha["id"]).folder == "Autumn"
    archived = web.post(
        "/links/bulk",
        {"action": "archive", "link_ids": [str(bravo["id"]), str(charlie["id"])],
         "back": "/links?sort=name"},
        page="/links",
    )  # fmt: skip
    assert archived.headers["Location"] == "/links?sort=name"
    db.session.expire_all()
    assert [db.session.get(Link, i["id"]).archived for i in (alpha, bravo, charlie)] == [
        False, True, True,
    ]  # fmt: skip
    assert "2 links archived." in web.get("/links").get_data(as_text=True)
    assert order("") == [alpha["id"]]


def test_bulk_archive_leaves_another_organisations_links_alone(
    api: Api, other_api: Api, web: Web
) -> None:
    other_api.post("/api/v1/domains", {"hostname": "go.rival.test"})
    theirs = other_api.post(
        "/api/v1/links", {"destination": "https://example.org/", "domain": "go.rival.test"}
    ).get_json()
    web.post("/links/bulk", {"action": "archive", "link_ids": [str(theirs["id"])]}, page="/links")
    db.session.expire_all()
    assert db.session.get(Link, theirs["id"]).archived is False
    assert web.get(f"/links/{theirs['id']}/qr.png").status_code == 404


def test_qr_code_of_the_shared_url_as_png_and_svg(api: Api, web: Web) -> None:
    api.post("/api/v1/domains", {"hostname": HOST})
    link = _link(api, "Poster")
    png = web.get(f"/links/{link['id']}/qr.png?download=1")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert png.headers["Content-Disposition"] == f'attachment; filename="link-{link["id"]}-qr.png"'
    svg = web.get(f"/links/{link['id']}/qr.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert b"<svg" in svg.data and b"<path" in svg.data
    assert "Content-Disposition" not in svg.headers  # shown on the link's page
    page = web.get(f"/links/{link['id']}").get_data(as_text=True)
    assert f"/links/{link['id']}/qr.svg?download=1" in page
    assert web.get(f"/links/{link['id']}/qr.gif").status_code == 404


def test_expiry_in_the_form_and_the_list(api: Api, web: Web) -> None:
    api.post("/api/v1/domains", {"hostname": HOST})
    link = _link(api, "Soon")
    edit = web.get(f"/links/{link['id']}/edit").get_data(as_text=True)
    assert 'type="datetime-local"' in edit
    domain_id = db.session.get(Link, link["id"]).domain_id
    form = {
        "name": "Soon", "destination": "https://example.org/", "domain_id": str(domain_id),
        "actions-0-type": "whisper", "expires_at": "2020-01-02T03:04", "folder": "Old",
    }  # fmt: skip
    saved = web.post(f"/links/{link['id']}/edit", form)
    assert saved.status_code == 302, saved.get_data(as_text=True)
    stored = db.session.get(Link, link["id"])
    assert stored.expires_at == datetime(2020, 1, 2, 3, 4, tzinfo=UTC)
    assert stored.folder == "Old"
    row = _row(web.get("/links").get_data(as_text=True), link["id"])
    assert "data-expired" in row
    assert (
        api.get(f"/api/v1/links/{link['id']}")
        .get_json()["expires_at"]
        .startswith("2020-01-02T03:04:00")
    )
    form["expires_at"] = "next tuesday"
    refused = web.post(f"/links/{link['id']}/edit", form)
    assert refused.status_code == 400
    assert 'data-field-error="expires_at"' in refused.get_data(as_text=True)
    assert 'value="next tuesday"' in refused.get_data(as_text=True)  # the input is kept
    later = datetime.now(UTC) + timedelta(days=3)
    form["expires_at"] = later.strftime("%Y-%m-%dT%H:%M")
    assert web.post(f"/links/{link['id']}/edit", form).status_code == 302
    assert "data-expired" not in _row(web.get("/links").get_data(as_text=True), link["id"])
