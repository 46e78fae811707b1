"""Issuing per-contact URLs: random codes, one per (link, contact), stable, bulk, scoped."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select, text

from admin.extensions import db
from admin.models import IssuedCode, SyncOutbox
from admin.services import codes
from core.codes import is_code


@pytest.fixture
def link(api):
    api.post("/api/v1/domains", {"hostname": "go.example.test"})
    return api.post(
        "/api/v1/links",
        {
            "destination": "https://example.org/{{first_name}}",
            "domain": "go.example.test",
            "extension": "gala",
        },
    ).get_json()


def _contacts(api, n, start=0):
    return [
        api.post("/api/v1/contacts", {"phone": f"+1555200{i:04d}"}).get_json()["id"]
        for i in range(start, start + n)
    ]


def test_issue_gives_each_contact_its_own_stable_url(api, link):
    ids = _contacts(api, 3)
    resp = api.post(f"/api/v1/links/{link['id']}/issue", {"contact_ids": ids})
    assert resp.status_code == 200, resp.get_json()
    urls = resp.get_json()["urls"]
    assert [u["contact_id"] for u in urls] == ids
    found = set()
    for entry in urls:
        scheme, _, rest = entry["url"].partition("://go.example.test/")
        code, _, ext = rest.partition("/")
        assert scheme == "https" and ext == "gala" and is_code(code)
        found.add(code)
    assert len(found) == 3 and link["url"].split("/")[3] not in found
    again = api.post(f"/api/v1/links/{link['id']}/issue", {"contact_ids": [ids[1], ids[0]]})
    assert again.get_json()["urls"] == [urls[1], urls[0]]
    outbox = db.session.scalars(
        select(SyncOutbox.payload).where(SyncOutbox.entity == "codes").order_by(SyncOutbox.id)
    ).all()
    # the generic code, then the three new ones once: issuing again adds nothing
    assert [sorted(p["codes"]) for p in outbox][1:] == [sorted(found)]


def test_duplicates_and_empty_lists(api, link):
    ids = _contacts(api, 2)
    resp = api.post(f"/api/v1/links/{link['id']}/issue", {"contact_ids": [ids[0], ids[0], ids[1]]})
    assert [u["contact_id"] for u in resp.get_json()["urls"]] == ids
    empty = api.post(f"/api/v1/links/{link['id']}/issue", {"contact_ids": []})
    assert empty.status_code == 200 and empty.get_json() == {"urls": []}


def test_contacts_of_another_organisation_are_not_found(api, other_api, link):
    mine = _contacts(api, 1)
    theirs = other_api.post("/api/v1/contacts", {"phone": "+15553334444"}).get_json()["id"]
    resp = api.post(f"/api/v1/links/{link['id']}/issue", {"contact_ids": [*mine, theirs]})
    assert resp.status_code == 404
    assert resp.get_json()["error"]["field"] == "contact_ids"
    assert db.session.scalar(select(func.count()).select_from(IssuedCode)) == 1  # generic only
    bad = api.post(f"/api/v1/links/{link['id']}/issue", {"contact_ids": [mine[0], "x"]})
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "contact_ids[1]"
    missing = api.post(f"/api/v1/links/{link['id']}/issue", {})
    assert missing.get_json()["error"]["field"] == "contact_ids"


def test_archived_link_cannot_issue(api, link):
    ids = _contacts(api, 1)
    api.patch(f"/api/v1/links/{link['id']}", {"archived": True})
    resp = api.post(f"/api/v1/links/{link['id']}/issue", {"contact_ids": ids})
    assert resp.status_code == 409


def test_new_codes_are_random_base62():
    made = codes.new_codes(20_000)
    assert len(made) == 20_000 and len(set(made)) == 20_000
    assert all(is_code(c) and len(c) == 7 for c in made)
    counts = {}
    for c in "".join(made):
        counts[c] = counts.get(c, 0) + 1
    assert len(counts) == 62
    assert max(counts.values()) < 1.2 * min(counts.values())  # about uniform


def test_collisions_are_retried(api, link, org, monkeypatch):
    """A code already taken is replaced by a fresh one, not an error and not a lost contact."""
    ids = _contacts(api, 2)
    taken = db.session.scalar(select(IssuedCode.code))  # the generic code
    supply = iter([[taken, taken], ["Zz00001", "Zz00002"]])
    monkeypatch.setattr(codes, "new_codes", lambda n: next(supply)[:n])
    urls = codes.issue_codes(org.org_id, link["id"], ids)
    got = sorted(url.split("/")[3] for _, url in urls)
    assert got == ["Zz00001", "Zz00002"]


@pytest.mark.slow
def test_issue_100k_contacts_in_one_call(api, link, org):
    n = 100_000
    db.session.execute(
        text(
            "INSERT INTO contacts (org_id, phone) "
            "SELECT :org, '+1555' || lpad(g::text, 7, '0') FROM generate_series(1, :n) g"
        ),
        {"org": org.org_id, "n": n},
    )
    db.session.commit()
    ids = list(db.session.scalars(text("SELECT id FROM contacts ORDER BY id")))
    started = time.perf_counter()
    resp = api.post(f"/api/v1/links/{link['id']}/issue", {"contact_ids": ids})
    took = time.perf_counter() - started
    print(f"\nissued {n} codes in {took:.2f} s")
    assert resp.status_code == 200, resp.get_json()
    urls = resp.get_json()["urls"]
    assert len(urls) == n and len({u["url"] for u in urls}) == n
    chunks = db.session.scalars(
        select(SyncOutbox.payload).where(SyncOutbox.entity == "codes").order_by(SyncOutbox.id)
    ).all()[1:]
    assert [len(c["codes"]) for c in chunks] == [10_000] * 10
    assert took < 30
    again_started = time.perf_counter()
    again = api.post(f"/api/v1/links/{link['id']}/issue", {"contact_ids": ids})
    print(f"re-issued {n} in {time.perf_counter() - again_started:.2f} s")
    assert again.get_json()["urls"] == urls


def test_concurrent_issues_agree_on_each_contacts_code(app, api, link, org):
    """Two calls racing over the same contacts end with one code per contact, both seeing it."""
    db.session.execute(
        text(
            "INSERT INTO contacts (org_id, phone) "
            "SELECT :org, '+1555' || lpad(g::text, 7, '0') FROM generate_series(1, 3000) g"
        ),
        {"org": org.org_id},
    )
    db.session.commit()
    ids = list(db.session.scalars(text("SELECT id FROM contacts ORDER BY id")))
    barrier = threading.Barrier(2)
    results: list[list[tuple[int, str]]] = []
    failures: list[BaseException] = []

    def issue(contact_ids):
        with app.app_context():
            try:
                barrier.wait(10)
                results.append(codes.issue_codes(org.org_id, link["id"], contact_ids))
            except BaseException as exc:  # reported by the assertion below
                failures.append(exc)
            finally:
                db.session.remove()

    threads = [
        threading.Thread(target=issue, args=(ids,)),
        threading.Thread(target=issue, args=(list(reversed(ids)),)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures
    assert dict(results[0]) == dict(results[1])
    assert db.session.scalar(select(func.count()).select_from(IssuedCode)) == 3000 + 1
