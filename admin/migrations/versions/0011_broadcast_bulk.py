"""broadcasts in bulk: a broadcast's messages are their own history (no event per message)

Revision ID: 0011_broadcast_bulk
Revises: 0010_attribution
"""

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


def upgrade():
    # The broadcasts' events already written would now show twice.
    op.execute(
        "DELETE FROM history_events h USING messages m WHERE h.type = 'message_out'"
        " AND h.message_id = m.id AND m.broadcast_id IS NOT NULL"
    )
    op.execute(_VIEW)


def downgrade():
    op.execute("DROP VIEW contact_history")
    op.execute(
        "INSERT INTO history_events (org_id, contact_id, type, body, link_id, message_id, at)"
        " SELECT org_id, contact_id, 'message_out', body, link_id, id, created_at"
        " FROM messages WHERE broadcast_id IS NOT NULL"
    )
