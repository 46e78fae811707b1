"""Attribution: ``{{contact_id}}`` and a broadcast's ``{{source}}`` (its refcode) merged into the
destination when a message's code is clicked, through the real sync publisher and a real edge."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from admin.web import queries
from core.config import to_libpq
from core.merge import TemplateError, parse_template
from core.records import ContactRecord, code_entry, parse_code_entry
from sync.publish.reconcile import Reconciler
from sync.publish.store import RecordStore
from tests.conftest import Servers
from tests.edge.conftest import Edge, start_edge
from tests.helpers.publish import publish_once
from tests.sync import factory

HOST = "give.example.test"
DESTINATION = "https://donate.example.org/gala?refcode={{source|sms}}&refcode2={{contact_id}}"


@pytest.fixture(scope="module")
def edge(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    yield from start_edge(servers, tmp_path_factory)


def codes_of(api: Any, broadcast_id: int) -> dict[int, str]:
    """Each recipient's code, read from the message the broadcast queued for them."""
    messages = api.get(f"/api/v1/broadcasts/{broadcast_id}/messages").get_json()["messages"]
    return {m["contact_id"]: code_in(m["body"]) for m in messages}


def code_in(body: str) -> str:
    found = re.search(rf"https://{re.escape(HOST)}/(\w+)", body)
    assert found, body
    return found.group(1)


def test_a_broadcasts_source_reaches_the_click(api, org, clean, make_contact, edge):
    factory.domain(org.org_id, HOST)
    created = api.post("/api/v1/links", {"name": "Give", "destination": DESTINATION, "domain": HOST})
    assert created.status_code == 201, created.get_json()
    link_id = created.get_json()["id"]
    ana, bob = (make_contact(n)["id"] for n in ("Ana", "Bob"))

    def broadcast(ids: list[int], **extra: Any) -> int:
        resp = api.post("/api/v1/broadcasts", {"body": "Give: {{link}}", "link_id": link_id,
                                               "contact_ids": ids, "quiet_hours": False, **extra})  # fmt: skip
        assert resp.status_code == 201, resp.get_json()
        return int(resp.get_json()["id"])

    gala = broadcast([ana, bob], source="gala_sms")
    plain = broadcast([ana])  # no source given: its own, sl_b<id>
    assert api.get(f"/api/v1/broadcasts/{plain}").get_json()["source"] == f"sl_b{plain}"
    sent = api.post("/api/v1/messages", {"contact_id": ana, "body": "Hi {{link}}", "link_id": link_id})
    assert sent.status_code == 201, sent.get_json()
    team_code = code_in(sent.get_json()["body"])
    # A test send carries the source of the broadcast being composed (sl_test before it has
    # one): the very URL the broadcast sends, not the link's default refcode.
    test = {"body": "Give: {{link}}", "link_id": link_id, "contact_id": bob}
    tested = api.post("/api/v1/broadcasts/test", {**test, "source": "gala_sms"})
    untitled = api.post("/api/v1/broadcasts/test", test)
    assert tested.status_code == untitled.status_code == 201, tested.get_json()
    publish_once(clean)

    gala_codes, plain_codes = codes_of(api, gala), codes_of(api, plain)
    # One contact, one link, two broadcasts: two codes, each carrying its broadcast's source.
    assert len({gala_codes[ana], plain_codes[ana], team_code}) == 3
    expected = {
        gala_codes[ana]: f"refcode=gala_sms&refcode2={ana}",
        gala_codes[bob]: f"refcode=gala_sms&refcode2={bob}",
        plain_codes[ana]: f"refcode=sl_b{plain}&refcode2={ana}",
        team_code: f"refcode=sms&refcode2={ana}",  # not a broadcast's: the default
        code_in(untitled.get_json()["body"]): f"refcode=sl_test&refcode2={bob}",
    }
    assert code_in(tested.get_json()["body"]) == gala_codes[bob]
    for code, query in expected.items():
        resp = edge.get(f"/{code}", host=HOST)
        assert resp.status_code == 302, resp.text
        assert resp.headers["location"] == f"https://donate.example.org/gala?{query}"
    # A HEAD reveals nothing of the contact nor the broadcast: defaults only.
    head = edge.head(f"/{gala_codes[ana]}", host=HOST)
    assert head.headers["location"] == "https://donate.example.org/gala?refcode=sms&refcode2="

    # Ana has three codes for the link, yet is one person with her own URLs on the links page.
    assert queries.personal_url_counts(org.org_id, [link_id]) == {link_id: 2}

    # A broadcast again with the same source reuses its codes (the same URL on reissue).
    again = broadcast([ana], source="gala_sms")
    assert codes_of(api, again)[ana] == gala_codes[ana]

    # Redis lost (FLUSHALL): sync's full rebuild brings the codes back with their source.
    rdb = redis.Redis.from_url(clean.redis_url)
    try:
        rdb.flushall()
        assert Reconciler(to_libpq(clean.database_url), RecordStore(rdb)).full_rebuild()
    finally:
        rdb.close()
    resp = edge.get(f"/{plain_codes[ana]}", host=HOST)
    assert resp.headers["location"] == f"https://donate.example.org/gala?refcode=sl_b{plain}&refcode2={ana}"


def test_a_link_without_source_keeps_one_code_per_contact(api, org, link, make_contact):
    ana = make_contact("Ana")["id"]
    ids = []
    for _ in range(2):
        resp = api.post("/api/v1/broadcasts", {"body": "RSVP {{link}}", "link_id": link["id"],
                                               "contact_ids": [ana], "quiet_hours": False})  # fmt: skip
        ids.append(resp.get_json()["id"])
    bodies = [api.get(f"/api/v1/broadcasts/{i}/messages").get_json()["messages"][0]["body"]
              for i in ids]  # fmt: skip
    assert bodies[0] == bodies[1]


def test_code_entries_carry_the_source() -> None:
    assert code_entry(5, 7) == "5:7" and parse_code_entry("5:7") == (5, 7, "")
    assert code_entry(5, None) == "5:" and parse_code_entry("5:") == (5, None, "")
    entry = code_entry(5, 7, "spring:gala")  # a label may hold a colon
    assert entry == "5:7:spring:gala" and parse_code_entry(entry) == (5, 7, "spring:gala")


def test_source_merges_percent_encoded_and_is_a_known_placeholder() -> None:
    template = parse_template("https://a.example.org/x?ref={{source|sms}}&c={{contact_id}}")
    contact = ContactRecord(id=42, org_id=1, version=1)
    assert template.render(contact, "a&b=c") == "https://a.example.org/x?ref=a%26b%3Dc&c=42"
    assert template.render(None) == "https://a.example.org/x?ref=sms&c="
    assert template.uses_source and not parse_template("https://a.example.org/").uses_source
    with pytest.raises(TemplateError, match="contact_id, source or fields.NAME"):
        parse_template("https://a.example.org/{{refcode}}")


def test_the_compose_page_sets_the_refcode(web, api, link, make_contact):
    ana = make_contact("Ana")["id"]
    form = {"body": "RSVP {{link}}", "link_id": str(link["id"]), "to": "contacts",
            "contact_ids": str(ana), "source": "spring_gala", "action": "confirm"}  # fmt: skip
    sent = web.post("/broadcasts/new", form, page="/broadcasts/new")
    assert sent.status_code == 302, sent.get_data(as_text=True)
    detail = web.get(sent.headers["Location"]).get_data(as_text=True)
    assert "<dd data-source><code>spring_gala</code></dd>" in detail
    broadcast_id = int(sent.headers["Location"].rsplit("/", 1)[1])
    assert api.get(f"/api/v1/broadcasts/{broadcast_id}").get_json()["source"] == "spring_gala"
    too_long = web.post("/broadcasts/new", {**form, "source": "x" * 65}, page="/broadcasts/new")
    assert too_long.status_code == 422
    assert 'data-field-error="source"' in too_long.get_data(as_text=True)
