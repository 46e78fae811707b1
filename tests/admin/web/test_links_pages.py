"""Links, contacts, domains and imports through the pages (Flask test client, CSRF on)."""

from __future__ import annotations

import io
import re
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from admin.extensions import db
from admin.models import Link, SyncOutbox
from admin.services import contacts as contact_service
from admin.services.orgs import NewOrg
from tests.helpers import images
from tests.helpers.dns_server import Zone, dns, dns_session
from tests.helpers.routes import seed
from tests.helpers.web import Web

__all__ = ["dns", "dns_session"]


def _domain(web: Web, hostname: str = "go.acme.test") -> int:
    response = web.post("/domains", {"hostname": hostname}, page="/domains")
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def _link_form(domain_id: int, **extra: object) -> dict[str, object]:
    form: dict[str, object] = {
        "name": "Gala RSVP",
        "destination": "https://example.org/rsvp?first={{first_name|friend}}&src={{fields.source|sms}}",
        "domain_id": str(domain_id),
        "extension": "gala2026",
        "preview_title": "Gala 2026",
        "preview_description": "Join us",
        "actions-0-type": "whisper",
        "actions-1-type": "add_tag",
        "actions-1-value": "gala-clicked",
        "actions-2-type": "",
    }
    form.update(extra)
    return form


def test_create_link_with_image_merge_field_and_actions(web: Web, app: Flask) -> None:
    domain_id = _domain(web)
    data = _link_form(domain_id, preview_image=(io.BytesIO(images.png(1200, 630)), "x.bin"))
    response = web.post("/links/new", data, page="/links/new", content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    link_id = int(response.headers["Location"].rsplit("/", 1)[1])
    link = db.session.get(Link, link_id)
    assert link is not None
    assert link.destination.startswith("https://example.org/rsvp?first={{first_name|friend}}")
    assert link.extension == "gala2026"
    assert link.actions == [{"type": "whisper"}, {"type": "add_tag", "tag": "gala-clicked"}]
    assert link.preview_image_url.startswith(app.config["PUBLIC_ADMIN_URL"] + "/media/")
    # Saved through the service: the link has its outbox row for sync.
    assert db.session.scalar(
        select(SyncOutbox.id).where(SyncOutbox.entity == "link", SyncOutbox.entity_id == link_id)
    )
    image = web.get(link.preview_image_url.split("://", 1)[1].split("/", 1)[1].join(["/", ""]))
    assert image.status_code == 200 and image.mimetype == "image/png"
    page = web.get(f"/links/{link_id}").get_data(as_text=True)
    assert "https://go.acme.test/" in page and "/gala2026" in page
    listing = web.get("/links?q=gala").get_data(as_text=True)
    assert "Gala RSVP" in listing
    assert "Gala RSVP" not in web.get("/links?q=nothing-like-it").get_data(as_text=True)


def test_save_warns_about_public_shorteners_and_card_limits(web: Web) -> None:
    domain_id = _domain(web)
    data = _link_form(
        domain_id,
        destination="https://bit.ly/3abcdef",
        preview_title="A title that is much too long for the iMessage card to show whole",
        preview_image=(io.BytesIO(images.png(600, 300)), "small.png"),
    )
    response = web.post("/links/new", data, page="/links/new", content_type="multipart/form-data")
    assert response.status_code == 302
    page = web.get(response.headers["Location"]).get_data(as_text=True)
    assert "bit.ly, a public shortener" in page
    assert "iMessage shows about 44" in page
    assert "600 px wide" in page


def test_invalid_destination_is_shown_next_to_its_field(web: Web) -> None:
    domain_id = _domain(web)
    data = _link_form(domain_id, destination="https://{{first_name}}.example.org/")
    response = web.post("/links/new", data, page="/links/new", content_type="multipart/form-data")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert re.search(r'data-field-error="destination">[^<]*placeholders may stand only', html)


def test_edit_archive_and_restore(web: Web) -> None:
    domain_id = _domain(web)
    created = web.post("/links/new", _link_form(domain_id), page="/links/new")
    link_id = int(created.headers["Location"].rsplit("/", 1)[1])
    edit = web.get(f"/links/{link_id}/edit").get_data(as_text=True)
    assert "gala-clicked" in edit and "Gala 2026" in edit
    changed = web.post(
        f"/links/{link_id}/edit",
        _link_form(domain_id, name="Gala (renamed)", **{"actions-1-type": ""}),
    )
    assert changed.status_code == 302
    link = db.session.get(Link, link_id)
    db.session.refresh(link)
    assert link is not None and link.name == "Gala (renamed)"
    assert link.actions == [{"type": "whisper"}]
    web.post(f"/links/{link_id}/archive", page=f"/links/{link_id}")
    db.session.refresh(link)
    assert link.archived
    assert "Gala (renamed)" not in web.get("/links").get_data(as_text=True)
    assert "Gala (renamed)" in web.get("/links?show=archived").get_data(as_text=True)
    web.post(f"/links/{link_id}/restore", page=f"/links/{link_id}")
    db.session.refresh(link)
    assert not link.archived


def test_merge_preview_and_issue_for_a_contact(web: Web, org: NewOrg) -> None:
    domain_id = _domain(web)
    contact = contact_service.create_contact(
        org.org_id, {"phone": "+15551230001", "first_name": "Zoë & Co", "fields": {"source": "tv"}}
    )
    template = "https://example.org/r?first={{first_name}}&src={{fields.source|sms}}"
    preview = web.get(
        "/links/merge-preview.json",
        query_string={"destination": template, "contact_id": contact.id},
    ).get_json()
    assert preview["url"] == "https://example.org/r?first=Zo%C3%AB%20%26%20Co&src=tv"
    defaults = web.get(
        "/links/merge-preview.json", query_string={"destination": template}
    ).get_json()
    assert defaults["url"] == "https://example.org/r?first=&src=sms"
    bad = web.get("/links/merge-preview.json", query_string={"destination": "ftp://x"}).get_json()
    assert bad["url"] is None and "http" in bad["error"]
    builder = web.get("/links/new").get_data(as_text=True)
    assert '<option value="fields.source">' in builder  # the org's custom field names
    found = web.get("/contacts/search.json?q=zo").get_json()["contacts"]
    assert [c["id"] for c in found] == [contact.id]

    created = web.post("/links/new", _link_form(domain_id), page="/links/new")
    link_id = int(created.headers["Location"].rsplit("/", 1)[1])
    issued = web.post(
        f"/links/{link_id}/issue",
        {"audience": "contacts", "contacts": "+1 555 123 0001"},
        page=f"/links/{link_id}",
    )
    assert issued.status_code == 200
    urls = re.findall(r"data-issued-url>([^<]+)<", issued.get_data(as_text=True))
    assert (
        len(urls) == 1
        and urls[0].startswith("https://go.acme.test/")
        and urls[0].endswith("/gala2026")
    )
    again = web.post(
        f"/links/{link_id}/issue",
        {"audience": "contacts", "contacts": str(contact.id)},
        page=f"/links/{link_id}",
    )
    assert re.findall(r"data-issued-url>([^<]+)<", again.get_data(as_text=True)) == urls


def test_metrics_json_and_export_for_a_new_link(web: Web) -> None:
    domain_id = _domain(web)
    created = web.post("/links/new", _link_form(domain_id), page="/links/new")
    link_id = int(created.headers["Location"].rsplit("/", 1)[1])
    assert "series" not in web.get(f"/links/{link_id}/metrics.json").get_json()
    data = web.get(f"/links/{link_id}/metrics.json?full=1").get_json()
    assert data["counts"] == {"clicks": 0, "unique_clicks": 0, "previews": 0, "bots": 0}
    assert len(data["series"]["human"]) == len(data["series"]["starts"]) >= 60
    export = web.get(f"/links/{link_id}/export.csv?metric=clicks")
    assert export.mimetype == "text/csv"
    assert export.get_data(as_text=True).splitlines()[0].startswith("contact_id,phone")
    odd = web.get(f"/links/{link_id}/contacts?metric=nope")
    assert odd.status_code == 400
    assert "Choose clicks, unique clicks, previews or bots." in odd.get_data(as_text=True)
    assert "unique_clicks" not in odd.get_data(as_text=True)


def test_domain_check_reports_a_name_that_does_not_resolve(web: Web, dns: Zone) -> None:
    domain_id = _domain(web, "nowhere.invalid")
    page = web.post(f"/domains/{domain_id}/verify", page=f"/domains/{domain_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Not verified yet: DNS shows no record" in html
    assert "CNAME" in html
    taken = web.post("/domains", {"hostname": "nowhere.invalid"}, page="/domains")
    assert taken.status_code == 400
    assert "already one of your domains" in taken.get_data(as_text=True)


def test_contacts_list_filters_and_contact_page(web: Web, org: NewOrg) -> None:
    ada = contact_service.create_contact(
        org.org_id, {"phone": "+15551230002", "first_name": "Ada", "fields": {"zip": "10001"}}
    )
    contact_service.create_contact(org.org_id, {"phone": "+15551230003", "first_name": "Bob"})
    listing = web.get("/contacts?q=ada").get_data(as_text=True)
    assert "Ada" in listing and "Bob" not in listing
    assert "Bob" in web.get("/contacts?q=0003").get_data(as_text=True)
    page = web.get(f"/contacts/{ada.id}").get_data(as_text=True)
    assert "+15551230002" in page and "zip" in page and "10001" in page
    assert f'href="/contacts/{ada.id}/conversation"' in page  # the way to message the contact
    assert web.get(f"/contacts/{ada.id}/conversation").status_code == 200


def test_csv_import_shows_progress_and_bad_lines(web: Web) -> None:
    csv_text = (
        "phone,first_name,zip\n+15551230010,Cy,10001\nnot a phone,Di,10002\n+15551230011,Ed,\n"
    )
    response = web.post(
        "/contacts/import",
        {"file": (io.BytesIO(csv_text.encode()), "people.csv")},
        page="/contacts/import",
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    job_url = response.headers["Location"]
    deadline = time.monotonic() + 15
    while True:
        job = web.get(job_url + ".json").get_json()
        if job["status"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert job["status"] == "done"
    assert job["imported_rows"] == 2 and job["failed_rows"] == 1
    assert [e["line"] for e in job["errors"]] == [3]
    assert "Cy" in web.get("/contacts").get_data(as_text=True)
    no_phone = web.post(
        "/contacts/import",
        {"file": (io.BytesIO(b"name\nx\n"), "bad.csv")},
        page="/contacts/import",
        content_type="multipart/form-data",
    )
    assert no_phone.status_code == 400 and "no phone column" in no_phone.get_data(as_text=True)


def test_every_page_renders(web: Web, client: FlaskClient) -> None:
    for path in (
        "/links",
        "/links/new",
        "/contacts",
        "/contacts/import",
        "/domains",
        "/team",
        "/tokens",
    ):
        response = web.get(path)
        assert response.status_code == 200, path
        assert response.headers["X-Frame-Options"] == "DENY"


def test_create_and_edit_a_contact_with_fields(web: Web, org: NewOrg) -> None:
    bad = web.post("/contacts/new", {"phone": "12", "fields": "zip: 1"}, page="/contacts/new")
    assert bad.status_code == 400 and "phone" in bad.get_data(as_text=True)
    created = web.post(
        "/contacts/new",
        {"phone": "(555) 123-0042", "first_name": "Flo", "fields": "zip: 10001\nsource = tv"},
        page="/contacts/new",
    )
    assert created.status_code == 302, created.get_data(as_text=True)
    contact_id = int(created.headers["Location"].rsplit("/", 1)[1])
    contact = contact_service.get_contact(org.org_id, contact_id)
    assert contact.phone == "+15551230042" and contact.fields == {"zip": "10001", "source": "tv"}
    edited = web.post(
        f"/contacts/{contact_id}/edit",
        {"phone": "+15551230042", "first_name": "Florence", "fields": "zip: 10002"},
    )
    assert edited.status_code == 302
    db.session.expire_all()
    contact = contact_service.get_contact(org.org_id, contact_id)
    assert contact.first_name == "Florence" and contact.fields == {"zip": "10002"}
    assert db.session.scalar(
        select(SyncOutbox.id)
        .where(SyncOutbox.entity == "contact", SyncOutbox.entity_id == contact_id)
        .order_by(SyncOutbox.id.desc())
        .limit(1)
    )


# The link form with odd action rows: never a 500.
ODD_ACTIONS_BASE = {"destination": "https://example.org/", "name": "Odd actions"}


@pytest.mark.parametrize(
    "rows",
    [
        {"actions-99999999999999999999-type": "whisper"},
        {"actions-0-type": "\x00", "actions-0-value": "\x00"},
        {"actions-0-type": "add_tag", "actions-0-value": "x" * 5000},
        {f"actions-{i}-type": "add_tag" for i in range(600)}
        | {f"actions-{i}-value": f"t{i}" for i in range(600)},
        {"actions-0-type": "nope"},
        {"actions--1-type": "whisper"},
    ],
    ids=range(6),
)
def test_link_form_with_odd_action_rows(api, web, rows):
    ids = seed(api)
    data = {**ODD_ACTIONS_BASE, "domain_id": str(ids["domain_id"]), **rows}
    resp = web.post("/links/new", data, page="/links/new")
    assert resp.status_code < 500, resp.status_code
