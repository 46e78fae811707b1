"""A contact's personal data: everything held exported, and erased everywhere on delete (every
Postgres table, Redis through the sync's outbox) while the counts stay; the clicks go through
the real drain and the records through the real publisher, against the test's Valkey."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from flask import Flask
from sqlalchemy import text

from admin.extensions import db
from admin.models import ImportJob, Webhook
from admin.services import team
from admin.services.orgs import NewOrg
from core import keys, records
from sync import crypto
from sync.clicks.drain import Drain
from tests.conftest import Api
from tests.helpers.publish import publish  # noqa: F401 (a fixture)
from tests.helpers.web import Web
from tests.sync.clicks.helpers import click_fields, run_burst, xadd_all
from tests.sync.conftest import make_drain  # noqa: F401 (a fixture)

HOST = "go.privacy.test"
PHONE = "+15557650123"
NAME = "Zebediah"
IP = "198.51.100.77"
AGENT = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 PrivacyProbe/9"
# What must be nowhere once the contact is deleted.
TRACES = (PHONE, NAME, "zeb@example.test", IP, "PrivacyProbe", "Blue-team-7")


def _setup(api: Api, org: NewOrg) -> dict[str, Any]:
    domain = api.post("/api/v1/domains", {"hostname": HOST}).get_json()
    link = api.post(
        "/api/v1/links",
        {
            "name": "Gala",
            "destination": "https://example.org/?n={{first_name}}",
            "domain": HOST,
            "actions": [{"type": "whisper"}, {"type": "add_tag", "tag": "clicked"}],
        },
    ).get_json()
    person = api.post(
        "/api/v1/contacts",
        {"phone": PHONE, "first_name": NAME, "last_name": "Quixote",
         "email": "zeb@example.test", "fields": {"team": "Blue-team-7"}},
    ).get_json()  # fmt: skip
    other = api.post("/api/v1/contacts", {"phone": "+15557650999"}).get_json()
    issued = api.post(
        f"/api/v1/links/{link['id']}/issue", {"contact_ids": [person["id"], other["id"]]}
    ).get_json()["urls"]
    codes = {u["contact_id"]: u["url"].rsplit("/", 1)[-1] for u in issued}
    sent = api.post(
        "/api/v1/broadcasts",
        {"body": "Hi {{first_name}}: {{link}}", "link_id": link["id"], "contact_ids": [person["id"]]},
    )
    assert sent.status_code == 201, sent.get_json()
    # An endpoint, so that the drain queues webhook deliveries naming the contact; an import
    # whose rejected rows (kept for their CSV) name them and someone else.
    db.session.add(
        Webhook(org_id=org.org_id, url="https://hooks.example.test/in", secret=crypto.encrypt("s"))
    )
    rejected = [{"line": 2, "message": "bad", "cells": [PHONE.lstrip("+"), "x" * 300]},
                {"line": 3, "message": "bad", "cells": ["+15550000000", "Someone"]}]  # fmt: skip
    db.session.add(ImportJob(org_id=org.org_id, status="done", errors=rejected))
    db.session.commit()
    return {"domain": domain["id"], "link": link["id"], "person": person["id"],
            "other": other["id"], "codes": codes}  # fmt: skip


def _found_in_postgres(needle: str) -> list[str]:
    """The tables holding ``needle`` anywhere in a row's text."""
    db.session.rollback()
    tables = db.session.scalars(
        text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
        )
    ).all()
    return [
        t
        for t in tables
        if db.session.scalar(
            text(f"SELECT count(*) FROM {t} x WHERE x::text LIKE :n"), {"n": f"%{needle}%"}
        )
    ]


def _found_in_redis(rdb: redis.Redis, needle: str) -> list[str]:
    found = []
    for key in rdb.scan_iter(count=1000):
        kind = rdb.type(key).decode()
        if kind == "hash":
            blob = b" ".join(k + b"=" + v for k, v in rdb.hgetall(key).items())
        elif kind == "string":
            blob = rdb.get(key) or b""
        elif kind == "stream":
            blob = b" ".join(b" ".join(f.values()) for _i, f in rdb.xrange(key))
        else:
            continue
        if needle.encode() in blob:
            found.append(key.decode())
    return found


def test_export_then_delete_erases_the_contact_everywhere_but_the_counts(
    app: Flask,
    org: NewOrg,
    api: Api,
    rdb: redis.Redis,
    make_drain: Callable[..., Drain],  # noqa: F811
    publish: Callable[[], None],  # noqa: F811
) -> None:
    ids = _setup(api, org)
    person, other, link = ids["person"], ids["other"], ids["link"]
    xadd_all(
        rdb,
        [click_fields(link, person, ids["domain"], ip=IP, user_agent=AGENT, code=ids["codes"][person],
                      host=HOST) for _ in range(2)]
        + [click_fields(link, other, ids["domain"], ip="192.0.2.50", code=ids["codes"][other],
                        host=HOST)],
    )  # fmt: skip
    assert run_burst(make_drain()) == 3
    publish()
    stored = records.contact_decoder.decode(rdb.hget(keys.contact(person), keys.F_DATA))
    assert stored.phone == PHONE and not stored.deleted  # what the delete must take away

    export = api.get(f"/api/v1/contacts/{person}/export")
    assert export.status_code == 200 and export.headers["Cache-Control"] == "no-store"
    data = export.get_json()
    assert data["contact"]["phone"] == PHONE and data["contact"]["fields"] == {"team": "Blue-team-7"}
    assert data["tags"] == ["clicked"] and data["lists"] == []
    assert [e["type"] for e in data["history"]].count("whisper") == 2
    assert data["messages"][0]["body"].startswith(f"Hi {NAME}:")
    assert [(c["ip"], c["user_agent"]) for c in data["clicks"]] == [(IP, AGENT)] * 2
    assert data["short_codes"] == [{"code": ids["codes"][person], "link_id": link}]
    assert data["opt_outs"] == []
    assert api.get(f"/api/v1/contacts/{other}/export").get_json()["clicks"][0]["ip"] == "192.0.2.50"

    counts = api.get(f"/api/v1/links/{link}/metrics").get_json()
    assert (counts["clicks"], counts["unique_clicks"]) == (3, 2)
    assert api.delete(f"/api/v1/contacts/{person}").status_code == 204
    assert api.get(f"/api/v1/contacts/{person}").status_code == 404
    assert api.delete(f"/api/v1/contacts/{person}").status_code == 404
    after = api.get(f"/api/v1/links/{link}/metrics").get_json()
    assert (after["clicks"], after["unique_clicks"]) == (3, 2)

    db.session.rollback()
    clicks = db.session.execute(
        text("SELECT contact_id, host(ip), user_agent FROM clicks ORDER BY contact_id NULLS FIRST")
    ).all()
    assert [tuple(c) for c in clicks] == [(None, None, "")] * 2 + [(other, "192.0.2.50", clicks[2][2])]
    for trace in TRACES:
        assert _found_in_postgres(trace) == [], trace
    assert _found_in_postgres("192.0.2.50") != []  # the other contact's clicks are untouched
    deliveries = db.session.execute(
        text("SELECT payload->'contact'->>'id' FROM webhook_deliveries")
    ).scalars().all()
    assert sorted(d or "" for d in deliveries) == ["", "", str(other)]
    kept = db.session.execute(text("SELECT errors FROM import_jobs")).scalar_one()
    assert [e["line"] for e in kept] == [3]

    publish()
    gone = records.contact_decoder.decode(rdb.hget(keys.contact(person), keys.F_DATA))
    assert gone.deleted and gone.phone == "" and gone.first_name == ""
    assert rdb.hget(keys.code_bucket(ids["codes"][person]), ids["codes"][person]) is None
    assert rdb.hget(keys.code_bucket(ids["codes"][other]), ids["codes"][other]) is not None
    for trace in TRACES:
        assert _found_in_redis(rdb, trace) == [], trace

    events = api.get("/api/v1/audit?kind=contact").get_json()["events"]
    assert [(e["action"], e["subject"]) for e in events] == [("contact.delete", f"contact {person}")]
    exports = api.get("/api/v1/audit?kind=export").get_json()["events"]
    assert [e["subject"] for e in exports] == [f"contact {other}", f"contact {person}"]


def test_privacy_calls_are_the_organisations_own(
    app: Flask, org: NewOrg, api: Api, other_api: Api
) -> None:
    contact = api.post("/api/v1/contacts", {"phone": PHONE}).get_json()["id"]
    assert other_api.get(f"/api/v1/contacts/{contact}/export").status_code == 404
    assert other_api.delete(f"/api/v1/contacts/{contact}").status_code == 404
    assert api.get(f"/api/v1/contacts/{2**63 + 5}/export").status_code == 404
    assert api.get(f"/api/v1/contacts/{contact}").status_code == 200

    assert api.get("/api/v1/privacy").get_json() == {"click_retention_days": 90}
    for bad in (0, 3651, "30", None):
        answer = api.patch("/api/v1/privacy", {"click_retention_days": bad})
        assert answer.status_code == 422, (bad, answer.get_json())
        assert answer.get_json()["error"]["field"] == "click_retention_days"
    assert api.patch("/api/v1/privacy", {"click_retention_days": 30}).get_json() == {
        "click_retention_days": 30
    }
    assert other_api.get("/api/v1/privacy").get_json() == {"click_retention_days": 90}


def test_the_contact_page_downloads_and_deletes(
    app: Flask, org: NewOrg, api: Api, web: Web
) -> None:
    contact = api.post("/api/v1/contacts", {"phone": PHONE, "first_name": NAME}).get_json()["id"]
    page = web.get(f"/contacts/{contact}").get_data(as_text=True)
    assert f'href="/contacts/{contact}/export.json"' in page and "Delete contact" in page
    download = web.get(f"/contacts/{contact}/export.json")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == f'attachment; filename="contact-{contact}.json"'
    assert download.get_json()["contact"]["first_name"] == NAME
    done = web.post(f"/contacts/{contact}/delete", page=f"/contacts/{contact}")
    assert done.status_code == 302 and done.headers["Location"].endswith("/contacts")
    assert web.get(f"/contacts/{contact}").status_code == 404
    assert web.post(f"/contacts/{contact}/delete", page="/contacts").status_code == 404

    # A member sees neither button, and may use neither.
    kept = api.post("/api/v1/contacts", {"phone": "+15557650777"}).get_json()["id"]
    member = team.accept(
        team.invite(org.org_id, team.acting_user(org.org_id, org.user_id), "m@acme.test",
                    "member").token, "Member", "a member password")  # fmt: skip
    db.session.commit()
    from admin.web.auth import session_id_for

    with web.client.session_transaction() as session:
        session["_user_id"] = session_id_for(member)
        session["_fresh"] = True
    page = web.get(f"/contacts/{kept}").get_data(as_text=True)
    assert "export.json" not in page and "Delete contact" not in page
    assert web.get(f"/contacts/{kept}/export.json").status_code == 403
    assert web.post(f"/contacts/{kept}/delete", page=f"/contacts/{kept}").status_code == 403
