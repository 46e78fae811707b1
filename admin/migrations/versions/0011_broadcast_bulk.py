"""broadcasts in bulk: a broadcast's messages are their own history (no event per message);
fewer index entries and foreign-key checks per message and code

Revision ID: 0011_broadcast_bulk
Revises: 0010_attribution
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_broadcast_bulk"
down_revision = "0010_attribution"
branch_labels = None
depends_on = None

# A contact's history as read (admin.models.HistoryEntry): the events, and each broadcast's
# message as the message_out entry its event used to be (same text, link and time).
_VIEW = """
    CREATE VIEW contact_history AS
    SELECT 'event'::varchar(8) AS origin, h.id, h.org_id, h.contact_id, h.type, h.body,
           h.link_id, h.click_id, h.message_id, h.user_id, h.at
    FROM history_events h
    UNION ALL
    SELECT 'message'::varchar(8), m.id, m.org_id, m.contact_id, 'message_out'::varchar(16),
           m.body, m.link_id, NULL::varchar(40), m.id, NULL::bigint, m.created_at
    FROM messages m
    WHERE m.broadcast_id IS NOT NULL
"""


# Foreign keys whose parent is one row for a whole broadcast (its organisation, link and the
# broadcast itself): checked per row, they were 5 of a recipient's 7 checks, each a lookup and
# a lock of the same parent row. None of these parents is deleted by the application (links
# are archived); their ON DELETE actions are kept by a trigger on the parent, once per
# statement, and a broadcast locks its parents once (admin/services/broadcasts_queue.py) as
# the checks did. The contacts' keys stay: a contact is erased on request.
_DROPPED_KEYS = (
    ("messages", "org_id", "organisations", "CASCADE"),
    ("messages", "broadcast_id", "broadcasts", "CASCADE"),
    ("messages", "link_id", "links", "SET NULL"),
    ("issued_codes", "org_id", "organisations", "CASCADE"),
    ("issued_codes", "link_id", "links", "CASCADE"),
)
_PARENT_TRIGGERS = {
    "organisations": (
        "DELETE FROM messages WHERE org_id IN (SELECT id FROM gone);"
        " DELETE FROM issued_codes WHERE org_id IN (SELECT id FROM gone);"
    ),
    "broadcasts": "DELETE FROM messages WHERE broadcast_id IN (SELECT id FROM gone);",
    "links": (
        "UPDATE messages SET link_id = NULL WHERE link_id IN (SELECT id FROM gone);"
        " DELETE FROM issued_codes WHERE link_id IN (SELECT id FROM gone);"
    ),
}


def _add_parent_triggers():
    for parent, body in _PARENT_TRIGGERS.items():
        op.execute(
            f"CREATE FUNCTION {parent}_deleted() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN {body} RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {parent}_deleted AFTER DELETE ON {parent}"
            f" REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION {parent}_deleted()"
        )


def _drop_parent_triggers():
    for parent in _PARENT_TRIGGERS:
        op.execute(f"DROP TRIGGER {parent}_deleted ON {parent}")
        op.execute(f"DROP FUNCTION {parent}_deleted()")


def upgrade():
    for table, column, _, _ in _DROPPED_KEYS:
        op.drop_constraint(f"{table}_{column}_fkey", table, type_="foreignkey")
    _add_parent_triggers()
    # Every query of a contact's messages names the contact: ix_messages_contact serves them
    # (a contact has one organisation), this one only cost an entry per message.
    op.drop_index("ix_messages_contact_out_in", table_name="messages")
    # Looked up by value only: a queued message has none, and needs no entry.
    op.drop_index("ix_messages_provider_message_id", table_name="messages")
    op.create_index(
        "ix_messages_provider_message_id", "messages", ["provider_message_id"],
        postgresql_where=sa.text("provider_message_id IS NOT NULL"),
    )  # fmt: skip

    # The broadcasts' events already written would now show twice.
    op.execute(
        "DELETE FROM history_events h USING messages m WHERE h.type = 'message_out'"
        " AND h.message_id = m.id AND m.broadcast_id IS NOT NULL"
    )
    op.execute(_VIEW)


def downgrade():
    op.drop_index("ix_messages_provider_message_id", table_name="messages")
    op.create_index("ix_messages_provider_message_id", "messages", ["provider_message_id"])
    op.create_index(
        "ix_messages_contact_out_in", "messages", ["org_id", "contact_id", "direction", "created_at"]
    )
    _drop_parent_triggers()
    for table, column, parent, action in _DROPPED_KEYS:
        op.create_foreign_key(f"{table}_{column}_fkey", table, parent, [column], ["id"],
                              ondelete=action)  # fmt: skip
    op.execute("DROP VIEW contact_history")
    op.execute(
        "INSERT INTO history_events (org_id, contact_id, type, body, link_id, message_id, at)"
        " SELECT org_id, contact_id, 'message_out', body, link_id, id, created_at"
        " FROM messages WHERE broadcast_id IS NOT NULL"
    )
