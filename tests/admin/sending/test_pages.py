"""The sending pages through the Flask test client, logged in, with CSRF on: the broadcast
composer (live segment count, by list, tag or chosen contacts), the library, and a contact's
conversation (paperclip link placeholder, saved replies, the reply simulator); the composer's JSON
endpoints with bodies no browser would send."""

from __future__ import annotations

import re

from sqlalchemy import select

from admin.extensions import db
from admin.models import Message
from tests.helpers.routes import seed
from tests.helpers.sending import put_in
from tests.helpers.web import csrf_from, fresh_request_globals


def url_for_contact(api, link_id, contact_id):
    return api.post(f"/api/v1/links/{link_id}/issue", {"contact_ids": [contact_id]}).get_json()[
        "urls"
    ][0]["url"]


def test_pages_need_a_login(client):
    for path in ("/broadcasts", "/broadcasts/new", "/library", "/contacts/1/conversation"):
        resp = client.get(path)
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], path


def test_compose_preview_and_send_a_broadcast(web, api, org, link, make_contact):
    ana, bob = make_contact("Ana"), make_contact("Bob", opted_out=True)
    put_in(org.org_id, ana["id"], list_="Volunteers")
    put_in(org.org_id, bob["id"], list_="Volunteers", tag="vip")
    page = web.get("/broadcasts/new")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Volunteers" in html and "vip" in html and "Gala RSVP" in html
    assert "sending.js" in html and 'id="segment-count"' in html

    # The live count: JSON with the CSRF token in a header, as sending.js sends it.
    token = csrf_from(html)
    body = {"body": "Hi {{first_name}} {{link}}", "link_id": link["id"], "list": "Volunteers"}
    live = web.client.post("/broadcasts/preview", json=body, headers={"X-CSRFToken": token})
    assert live.status_code == 200, live.get_data(as_text=True)
    counted = live.get_json()
    assert (
        counted["recipients"],
        counted["opted_out"],
        counted["segments"],
        counted["encoding"],
    ) == (1, 1, 1, "GSM-7")
    assert web.client.post("/broadcasts/preview", json=body).status_code == 400  # no CSRF token
    bad = web.client.post(
        "/broadcasts/preview", json={**body, "body": "{{oops}}"}, headers={"X-CSRFToken": token}
    )
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "body"

    form = {
        "body": "Hi {{first_name}} {{link}}",
        "link_id": str(link["id"]),
        "to": "list",
        "list": "Volunteers",
    }
    preview = web.post("/broadcasts/new", {**form, "action": "preview"}, page="/broadcasts/new")
    assert preview.status_code == 200
    assert 'data-preview="recipients">1<' in preview.get_data(as_text=True)
    assert db.session.scalar(select(Message.id)) is None

    # "Send" asks first; only "confirm" queues the broadcast.
    asked = web.post("/broadcasts/new", {**form, "action": "send"}, page="/broadcasts/new")
    assert asked.status_code == 200
    html = asked.get_data(as_text=True)
    assert "Send to 1 person?" in html and "1 opted out and 0 unreachable are left out" in html
    assert "Confirm: send to 1" in html and db.session.scalar(select(Message.id)) is None
    sent = web.post("/broadcasts/new", {**form, "action": "confirm"}, page="/broadcasts/new")
    assert sent.status_code == 302, sent.get_data(as_text=True)
    detail = web.get(sent.headers["Location"]).get_data(as_text=True)
    assert f"Hi Ana {url_for_contact(api, link['id'], ana['id'])}" in detail
    assert "Broadcast queued: 1 message (1 opted out, skipped)" in detail
    assert "Hi {{first_name}} {{link}}" in web.get("/broadcasts").get_data(as_text=True)

    by_tag = web.post(
        "/broadcasts/new",
        {**form, "to": "tag", "tag": "vip", "action": "send"},
        page="/broadcasts/new",
    )
    assert by_tag.status_code == 422 and "opted out" in by_tag.get_data(as_text=True)
    # The page's words, never the API's field names.
    no_link = web.post(
        "/broadcasts/new", {**form, "link_id": "", "action": "send"}, page="/broadcasts/new"
    )
    alert = no_link.get_data(as_text=True).split('role="alert"', 1)[1]
    error = alert.split(">", 1)[1].split("</div>", 1)[0]  # the words shown, not the attributes
    assert no_link.status_code == 422 and "link" in error and "link_id" not in error
    chosen = web.post(
        "/broadcasts/new", {**form, "to": "contacts", "contact_ids": [str(ana["id"])], "action": "confirm"},
        page="/broadcasts/new",
    )  # fmt: skip
    assert chosen.status_code == 302


def test_library_page(web, link):
    form = {
        "name": "Gala invite",
        "body": "Tickets: {{link}}",
        "link_id": str(link["id"]),
        "keyword": "gala",
    }
    assert web.post("/library", form).status_code == 302
    html = web.get("/library").get_data(as_text=True)
    assert "Gala invite" in html and "GALA" in html
    again = web.post("/library", {**form, "name": "Dupe"})
    assert again.status_code == 409 and 'data-field-error="keyword"' in again.get_data(as_text=True)
    no_link = web.post("/library", {**form, "keyword": "", "body": "Tickets!"})
    assert no_link.status_code == 422 and 'data-field-error="body"' in no_link.get_data(
        as_text=True
    )
    found = re.search(r"/library/(\d+)/delete", html)
    assert found is not None
    action_id = found.group(1)
    assert web.post(f"/library/{action_id}/delete", {}, page="/library").status_code == 302
    assert "Gala invite" not in web.get("/library").get_data(as_text=True)


def test_conversation_paperclip_library_and_simulated_reply(web, api, link, make_contact):
    ana = make_contact("Ana")
    page = web.get(f"/contacts/{ana['id']}/conversation")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="paperclip"' in html and 'data-name="Gala RSVP"' in html

    # The live count: Ana's text with a URL as long as hers (previewing issues no code).
    token = csrf_from(html)
    counted = web.client.post(
        f"/contacts/{ana['id']}/conversation/preview",
        json={"body": "Hi {{first_name}} [link: Gala RSVP] ü", "link_id": link["id"]},
        headers={"X-CSRFToken": token},
    )
    assert counted.status_code == 200, counted.get_data(as_text=True)
    got = counted.get_json()
    assert got["text"] == "Hi Ana https://go.example.test/xxxxxxx/gala2021 ü"
    assert (got["segments"], got["encoding"], got["units"]) == (1, "GSM-7", len(got["text"]))
    emoji = web.client.post(
        f"/contacts/{ana['id']}/conversation/preview",
        json={"body": "🎉"},
        headers={"X-CSRFToken": token},
    ).get_json()
    assert emoji["encoding"] == "UCS-2"
    bad = web.client.post(
        f"/contacts/{ana['id']}/conversation/preview",
        json={"body": "{{x}}"},
        headers={"X-CSRFToken": token},
    )
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "body"
    assert db.session.scalar(select(Message.id)) is None

    # The composer shows the placeholder; the message carries Ana's own URL in its place.
    sent = web.post(
        f"/contacts/{ana['id']}/conversation/send",
        {"body": "Ana, your seat: [link: Gala RSVP] see you!", "link_id": str(link["id"])},
        page=f"/contacts/{ana['id']}/conversation",
    )
    assert sent.status_code == 302
    url = url_for_contact(api, link["id"], ana["id"])
    (message,) = db.session.scalars(select(Message)).all()
    assert message.body == f"Ana, your seat: {url} see you!" and message.user_id is not None
    # A link chosen without a placeholder goes at the end.
    web.post(
        f"/contacts/{ana['id']}/conversation/send",
        {"body": "Again:", "link_id": str(link["id"])},
        page=f"/contacts/{ana['id']}/conversation",
    )
    assert (
        db.session.scalars(select(Message.body).order_by(Message.id.desc())).first()
        == f"Again: {url}"
    )

    action = api.post(
        "/api/v1/library",
        {
            "name": "Gala invite",
            "body": "Tickets: {{link}}",
            "link_id": link["id"],
            "keyword": "gala",
        },
    ).get_json()
    assert (
        web.post(
            f"/contacts/{ana['id']}/conversation/library",
            {"library_action_id": str(action["id"])},
            page=f"/contacts/{ana['id']}/conversation",
        ).status_code
        == 302
    )
    replied = web.post(
        f"/contacts/{ana['id']}/conversation/inbound",
        {"reply": "Gala"},
        page=f"/contacts/{ana['id']}/conversation",
    )
    assert replied.status_code == 302
    html = web.get(f"/contacts/{ana['id']}/conversation").get_data(as_text=True)
    assert html.count(f"Tickets: {url}") == 2  # the saved reply, and the keyword's answer
    assert "Received" in html and "queued" in html and "Gala RSVP" in html

    empty = web.post(
        f"/contacts/{ana['id']}/conversation/send",
        {"body": "  "},
        page=f"/contacts/{ana['id']}/conversation",
    )
    assert empty.status_code == 422 and 'data-field-error="body"' in empty.get_data(as_text=True)
    stop = web.post(
        f"/contacts/{ana['id']}/conversation/inbound",
        {"reply": "STOP"},
        page=f"/contacts/{ana['id']}/conversation",
    )
    assert stop.status_code == 302
    assert "opted out" in web.get(f"/contacts/{ana['id']}/conversation").get_data(as_text=True)


def test_another_organisations_contact_is_not_found(web, other_api):
    theirs = other_api.post("/api/v1/contacts", {"phone": "+15550109999"}).get_json()
    assert web.get(f"/contacts/{theirs['id']}/conversation").status_code == 404
    token = web.token("/library")
    resp = web.client.post(
        f"/contacts/{theirs['id']}/conversation/inbound", data={"reply": "hi", "csrf_token": token}
    )
    assert resp.status_code == 404
    assert web.get("/broadcasts/4242").status_code == 404


def test_provider_page(web, api):
    page = web.get("/sending/provider").get_data(as_text=True)
    assert 'value="outbox" checked' in page and "/api/v1/providers/twilio/" in page
    form = {
        "provider": "twilio",
        "account_sid": "AC" + "3" * 32,
        "auth_token": "tok",
        "from": "+15550001111",
        "rate_per_second": "2",
    }
    bad = web.post("/sending/provider", {**form, "account_sid": "nope"})
    assert bad.status_code == 422 and 'data-field-error="account_sid"' in bad.get_data(as_text=True)
    assert web.post("/sending/provider", form).status_code == 302
    kept = web.post("/sending/provider", {**form, "auth_token": "", "rate_per_second": "5"})
    assert kept.status_code == 302
    settings = api.get("/api/v1/sending/provider").get_json()
    assert settings["provider"] == "twilio" and settings["auth_token_set"] is True
    assert settings["rate_per_second"] == 5
    page = web.get("/sending/provider").get_data(as_text=True)
    assert 'value="tok"' not in page and "stored" in page


# The composer's JSON endpoints with bodies no browser would send: a 4xx, never a 500.
ODD_JSON = [b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe", b'{"body": "\xff"}', b"1e999999"]


def test_composer_json_bodies(api, web):
    ids = seed(api)
    token = csrf_from(web.get("/links").get_data(as_text=True))
    failures = []
    for path in ["/broadcasts/preview", f"/contacts/{ids['contact_id']}/conversation/preview"]:
        for raw in ODD_JSON:
            fresh_request_globals()
            resp = web.client.post(
                path, data=raw, content_type="application/json", headers={"X-CSRFToken": token}
            )
            if not 400 <= resp.status_code < 500:
                failures.append((path, raw[:20], resp.status_code))
    assert not failures, failures
