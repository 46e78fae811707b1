"""Results per broadcast: delivered, failed, clicked (unique), click rate, opted out after it,
replies; and the segments "clicked", "did not click" and "replied", which a follow-up
broadcast takes as its recipients in one step.

Clicks are a recipient's human clicks on the broadcast's link since it was created
(link_contact_clicks: the drain's per-contact totals), so a click on the same link from an
earlier message counts only when it came after this broadcast.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import text

from admin.extensions import db
from admin.models import Broadcast
from admin.services.errors import NotFound, ValidationError

SEGMENTS: Final = ("clicked", "did_not_click", "replied")
HANDED_OVER = "('accepted', 'sent', 'delivered')"
PENDING = ("queued", "sending")  # a message's statuses while it is still to be sent

# Recipients who got the message (handed to the provider), with what they did afterwards.
_RECIPIENTS = """
    WITH r AS (
        SELECT m.contact_id, m.status FROM messages m
        WHERE m.broadcast_id = :b AND m.org_id = :o
    ),
    clicked AS (
        SELECT lcc.contact_id FROM link_contact_clicks lcc
        WHERE lcc.link_id = :link AND lcc.org_id = :o AND lcc.last_at >= :since
          AND lcc.contact_id IN (SELECT contact_id FROM r)
    ),
    replied AS (
        SELECT DISTINCT m.contact_id FROM messages m
        WHERE m.org_id = :o AND m.direction = 'in' AND m.created_at >= :since
          AND m.contact_id IN (SELECT contact_id FROM r)
    ),
    opted AS (
        SELECT DISTINCT h.contact_id FROM history_events h
        WHERE h.org_id = :o AND h.type = 'opt_out' AND h.at >= :since
          AND h.contact_id IN (SELECT contact_id FROM r)
    )
"""

_COUNTS = text(
    _RECIPIENTS
    + f"""
    SELECT
        (SELECT count(*) FROM r) AS messages,
        (SELECT count(*) FROM r WHERE status IN {HANDED_OVER}) AS sent,
        (SELECT count(*) FROM r WHERE status = 'delivered') AS delivered,
        (SELECT count(*) FROM r WHERE status IN ('failed', 'undelivered')) AS failed,
        (SELECT count(*) FROM r WHERE status IN {PENDING}) AS pending,
        (SELECT count(*) FROM r WHERE status = 'canceled') AS canceled,
        (SELECT count(*) FROM r WHERE status = 'opted_out') AS dropped_opted_out,
        (SELECT count(*) FROM clicked) AS clicked,
        (SELECT count(*) FROM replied) AS replied,
        (SELECT count(*) FROM opted) AS opted_out_after
    """
)

_SEGMENT = {
    "clicked": "SELECT contact_id FROM clicked",
    "did_not_click": f"SELECT contact_id FROM r WHERE status IN {HANDED_OVER}"
    " EXCEPT SELECT contact_id FROM clicked",
    "replied": "SELECT contact_id FROM replied",
}


def _broadcast(org_id: int, broadcast_id: Any) -> Broadcast:
    if isinstance(broadcast_id, bool) or not isinstance(broadcast_id, int) or broadcast_id < 1:
        raise ValidationError("follow_up.broadcast_id", "broadcast_id must be an id")
    found = db.session.get(Broadcast, broadcast_id)
    if found is None or found.org_id != org_id:
        raise NotFound("broadcast_id", "no such broadcast")
    return found


def _params(broadcast: Broadcast) -> dict[str, Any]:
    return {
        "b": broadcast.id, "o": broadcast.org_id, "link": broadcast.link_id or 0,
        "since": broadcast.created_at,
    }  # fmt: skip


def status_now(broadcast: Broadcast, pending: int) -> str:
    """A broadcast's status as it is: "done" once nothing is left to send (``pending``: its
    messages queued or sending); else the stored one, queued, scheduled or canceled."""
    return broadcast.status if broadcast.status == "canceled" or pending else "done"


def results(org_id: int, broadcast_id: int) -> dict[str, Any]:
    broadcast = _broadcast(org_id, broadcast_id)
    row = db.session.execute(_COUNTS, _params(broadcast)).mappings().one()
    counts = {key: int(value) for key, value in row.items()}
    sent = counts["sent"]
    return {
        "broadcast_id": broadcast.id,
        "status": status_now(broadcast, counts["pending"]),
        **counts,
        "click_rate": round(counts["clicked"] / sent, 4) if sent else 0.0,
        "segments": {
            name: {"follow_up": {"broadcast_id": broadcast.id, "segment": name}}
            for name in SEGMENTS
        },
    }


def segment_contacts(org_id: int, follow_up: Any) -> tuple[int, ...]:
    """The contact ids of ``{"broadcast_id", "segment"}`` (a follow-up's recipients)."""
    if not isinstance(follow_up, dict):
        raise ValidationError("follow_up", 'follow_up is {"broadcast_id": id, "segment": name}')
    segment = follow_up.get("segment")
    if segment not in SEGMENTS:
        raise ValidationError("follow_up.segment", f"segment must be one of {', '.join(SEGMENTS)}")
    broadcast = _broadcast(org_id, follow_up.get("broadcast_id"))
    sql = text(_RECIPIENTS + _SEGMENT[segment] + " ORDER BY 1")
    return tuple(db.session.execute(sql, _params(broadcast)).scalars())
