"""Fixtures of the sending tests: a domain and a link through the API, contacts with tags and
lists. (The fake Twilio server is tests/admin/sender/conftest.py's; make_contact is
tests/conftest.py's.)"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from admin.extensions import db

GALA = {
    "name": "Gala RSVP",
    "destination": "https://example.org/rsvp?first={{first_name}}",
    "domain": "go.example.test",
    "extension": "gala2021",
}


@pytest.fixture
def link(api: Any) -> dict[str, Any]:
    assert api.post("/api/v1/domains", {"hostname": "go.example.test"}).status_code == 201
    resp = api.post("/api/v1/links", GALA)
    assert resp.status_code == 201, resp.get_json()
    return dict(resp.get_json())


def put_in(
    org_id: int, contact_id: int, *, tag: str | None = None, list_: str | None = None
) -> None:
    """Tag a contact or add it to a list (by name, created when missing) with plain SQL."""
    if tag:
        db.session.execute(
            text("INSERT INTO tags (org_id, name) VALUES (:o, :n) ON CONFLICT DO NOTHING"),
            {"o": org_id, "n": tag},
        )
        db.session.execute(
            text(
                "INSERT INTO contact_tags (contact_id, tag_id) "
                "SELECT :c, id FROM tags WHERE org_id = :o AND name = :n"
            ),
            {"c": contact_id, "o": org_id, "n": tag},
        )
    if list_:
        db.session.execute(
            text("INSERT INTO contact_lists (org_id, name) VALUES (:o, :n) ON CONFLICT DO NOTHING"),
            {"o": org_id, "n": list_},
        )
        db.session.execute(
            text(
                "INSERT INTO list_members (list_id, contact_id) "
                "SELECT id, :c FROM contact_lists WHERE org_id = :o AND name = :n"
            ),
            {"c": contact_id, "o": org_id, "n": list_},
        )
    db.session.commit()


@pytest.fixture
def web(client: Any, org: Any) -> Any:
    """The web UI through the test client, logged in as the owner of ``org`` (CSRF on)."""
    from tests.web.conftest import Web

    w = Web(client)
    assert w.login().status_code == 302
    return w
