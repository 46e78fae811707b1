"""Migration 0011_broadcast_bulk on a database with a broadcast: the events its messages had
go (the view shows the messages instead, once each), and a downgrade writes them back."""

from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from admin import MIGRATIONS_DIR
from admin.extensions import db

DOWN = "0010_attribution"
EVENTS = "SELECT contact_id, body, link_id, message_id FROM history_events ORDER BY message_id"
ENTRIES = (
    "SELECT contact_id, body, link_id, message_id FROM contact_history"
    " WHERE type = 'message_out' ORDER BY message_id"
)


def rows(sql: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in db.session.execute(text(sql))]


def test_downgrade_writes_the_events_back_and_upgrade_shows_each_message_once(
    api, link, make_contact
):
    ids = [make_contact(n)["id"] for n in ("Ana", "Bob")]
    made = api.post("/api/v1/broadcasts", {"body": "Hi {{link}}", "link_id": link["id"],
                                           "contact_ids": ids})  # fmt: skip
    assert made.status_code == 201, made.get_json()
    shown = rows(ENTRIES)
    assert len(shown) == 2 and rows(EVENTS) == []
    db.session.rollback()
    db.session.close()
    try:
        downgrade(directory=str(MIGRATIONS_DIR), revision=DOWN)
        assert rows(EVENTS) == shown  # what the view showed, as events again
        db.session.close()
    finally:
        upgrade(directory=str(MIGRATIONS_DIR))
    assert rows(EVENTS) == [] and rows(ENTRIES) == shown
    assert db.session.scalar(
        text("SELECT count(*) FROM pg_constraint WHERE conname = 'messages_link_id_fkey'")
    ) == 0
