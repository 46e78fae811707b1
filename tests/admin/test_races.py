"""Races answer 4xx, never 500: a list renamed while it is deleted, four people accepting one
invitation at once, memberships and issuing at once. And the error log never holds a token
or a password hash."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import psycopg
import pytest
from flask import Flask

from admin.extensions import db
from admin.models import User
from core import config
from tests.conftest import Api, Servers
from tests.helpers.threads import in_threads
from tests.helpers.web import Web


def test_a_list_renamed_while_it_is_deleted_is_not_found(
    app: Flask, api: Api, clean: Servers
) -> None:
    list_id = api.post("/api/v1/lists", json={"name": "Volunteers"}).get_json()["id"]
    # Another session deletes the list and holds its row until it commits: the rename has
    # read the list already and waits on the row, as when two people click at once.
    with psycopg.connect(config.to_libpq(clean.database_url)) as other:
        other.execute("DELETE FROM contact_lists WHERE id = %s", (list_id,))
        answers: list[int] = []

        def rename() -> None:
            client = app.test_client()
            r = client.patch(f"/api/v1/lists/{list_id}", json={"name": "Helpers"}, headers=api.headers)
            answers.append(r.status_code)

        worker = threading.Thread(target=rename)
        worker.start()
        time.sleep(0.5)  # the rename is waiting on the row lock now
        other.commit()
        worker.join(10)
    assert answers == [404]
    assert api.get(f"/api/v1/lists/{list_id}").status_code == 404


def test_four_people_accepting_one_invitation(
    app: Flask, web: Web, caplog: pytest.LogCaptureFixture
) -> None:
    path = web.invite("new@acme.test", "member")
    token = path.rsplit("/", 1)[1]
    people = [Web(app.test_client()) for _ in range(4)]
    forms = [
        {"csrf_token": p.token(path), "name": f"P{i}", "password": "a long password",
         "confirm": "a long password"}
        for i, p in enumerate(people)
    ]  # fmt: skip
    start = threading.Barrier(len(people))
    answers: dict[int, int] = {}

    def accept(i: int) -> None:
        start.wait()
        answers[i] = people[i].client.post(path, data=forms[i]).status_code

    caplog.set_level(logging.INFO)
    in_threads(accept, range(len(people)), timeout=30)
    assert sorted(answers.values()) == [302, 400, 400, 400], answers
    db.session.rollback()
    assert db.session.query(User).filter(User.email == "new@acme.test").count() == 1
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert token not in logged and "$argon2" not in logged


def test_a_failed_statement_in_the_log_holds_no_values(
    app: Flask, api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """hide_parameters: an error raised by a statement does not carry its parameters."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError) as caught:
        db.session.execute(
            text("INSERT INTO users (org_id, email, password_hash) VALUES (:o, :e, :h)"),
            {"o": 999999, "e": "x@y.test", "h": "$argon2id$secret-hash"},
        )
    db.session.rollback()
    assert "$argon2id$secret-hash" not in str(caught.value)


def test_two_owners_demoting_each_other_leave_an_owner(
    app: Flask, web: Web, clean: Servers
) -> None:
    second = Web(app.test_client())
    second.accept(web.invite("o2@acme.test", "owner"), "O2", "owner password")
    db.session.rollback()
    first_id, second_id = (
        db.session.query(User.id).filter(User.email == e).scalar()
        for e in ("owner@acme.test", "o2@acme.test")
    )
    # The second owner's demotion of the first is under way in another transaction (its row
    # changed, not committed) while the first owner demotes the second.
    with psycopg.connect(config.to_libpq(clean.database_url)) as other:
        other.execute("UPDATE users SET role = 'member' WHERE id = %s", (first_id,))
        worker = threading.Thread(
            target=lambda: web.post(f"/team/{second_id}/role", {"role": "member"}, page="/team")
        )
        worker.start()
        time.sleep(0.5)
        other.commit()
        worker.join(10)
    db.session.rollback()
    owners = db.session.query(User).filter(User.role == "owner", User.active.is_(True)).count()
    assert owners == 1


def _at_once(app: Flask, calls: list[tuple[str, str, Any]], headers: dict[str, str]) -> list[int]:
    """Every (method, path, json) call from its own thread and client, all let go at once;
    the status codes in the order of ``calls``."""
    app.config["API_CONCURRENT_PER_ORG"] = 0  # races, not the limit (test_limits.py)
    start = threading.Barrier(len(calls))
    answers: dict[int, int] = {}

    def call(i: int) -> None:
        method, path, body = calls[i]
        client = app.test_client()
        start.wait(10)
        answers[i] = client.open(path, method=method, json=body, headers=headers).status_code

    in_threads(call, range(len(calls)), timeout=60)
    return [answers.get(i, 0) for i in range(len(calls))]


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)


def test_a_list_renamed_and_deleted_by_many_at_once(
    app: Flask, api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    list_id = api.post("/api/v1/lists", json={"name": "Volunteers"}).get_json()["id"]
    path = f"/api/v1/lists/{list_id}"
    calls = [("PATCH", path, {"name": f"Helpers {i % 2}"}) for i in range(4)]
    calls += [("DELETE", path, None)] * 2
    caplog.set_level(logging.INFO)
    codes = _at_once(app, calls, api.headers)
    assert set(codes[:4]) <= {200, 404, 409}, codes
    assert set(codes[4:]) <= {204, 404} and 204 in codes[4:], codes
    assert api.get(path).status_code == 404
    assert api.headers["Authorization"].split()[1] not in _logged(caplog)


def test_tags_and_lists_joined_while_the_list_is_deleted(
    app: Flask, api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """Many contacts joining one new tag and one list at once (each creating it if new) while
    the list is deleted: each answer is 200, 404 or 409, never 500, and no tag is doubled."""
    ids = [
        api.post("/api/v1/contacts", json={"phone": f"+1555000{i:04d}"}).get_json()["id"]
        for i in range(4)
    ]
    list_id = api.post("/api/v1/lists", json={"name": "Team"}).get_json()["id"]
    calls: list[tuple[str, str, Any]] = []
    for contact_id in ids:
        calls.append(("POST", f"/api/v1/contacts/{contact_id}/tags", {"tag": "new"}))
        calls.append(("POST", f"/api/v1/contacts/{contact_id}/lists", {"list": "Team"}))
        calls.append(("DELETE", f"/api/v1/contacts/{contact_id}/tags", {"tag": "new"}))
    calls.append(("DELETE", f"/api/v1/lists/{list_id}", None))
    caplog.set_level(logging.INFO)
    codes = _at_once(app, calls, api.headers)
    assert set(codes) <= {200, 204, 404, 409}, codes
    tags = api.get("/api/v1/tags").get_json()["tags"]
    assert [t["name"] for t in tags] == ["new"]
    assert "unhandled" not in _logged(caplog)


def test_issuing_while_the_link_changes(
    app: Flask, api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """Four issues of the same contacts at once, while the link is archived and restored:
    the issues that succeed agree on each contact's URL."""
    api.post("/api/v1/domains", json={"hostname": "go.acme.test"})
    link = api.post(
        "/api/v1/links", json={"destination": "https://example.org/", "domain": "go.acme.test"}
    ).get_json()
    ids = [
        api.post("/api/v1/contacts", json={"phone": f"+1555100{i:04d}"}).get_json()["id"]
        for i in range(50)
    ]
    issue = ("POST", f"/api/v1/links/{link['id']}/issue", {"contact_ids": ids})
    calls = [issue] * 4 + [
        ("PATCH", f"/api/v1/links/{link['id']}", {"archived": True}),
        ("PATCH", f"/api/v1/links/{link['id']}", {"name": "Renamed"}),
    ]
    caplog.set_level(logging.INFO)
    codes = _at_once(app, calls, api.headers)
    assert set(codes) <= {200, 404, 409, 422}, codes
    api.patch(f"/api/v1/links/{link['id']}", json={"archived": False})
    again = api.post(issue[1], json=issue[2])
    assert again.status_code == 200, again.get_json()
    assert len({u["url"] for u in again.get_json()["urls"]}) == 50
    assert "unhandled" not in _logged(caplog)
