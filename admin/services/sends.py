"""Sending: broadcasts and one-off messages, rendered per contact and queued for the sender.

A message is queued in Postgres (status ``queued``) together with its ``message_out`` history
event, in one transaction (a broadcast's message is its own history entry: no event, see
admin.models.HistoryEntry); the sender worker (admin/sender/worker.py) hands queued messages to the
organisation's provider. Codes are issued in bulk through the codes service, so each message
carries that contact's own short URL. Rows are written with set-based SQL (``unnest`` arrays),
never one ORM object per contact; a broadcast's messages are queued in chunks, by COPY
(broadcasts_queue.py), from recipients streamed in chunks (broadcasts_recipients.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT, INTEGER, TEXT

from admin.extensions import db
from admin.models import Broadcast, Contact, Link
from admin.services import codes, inputs, results, segments
from admin.services.broadcasts_queue import NOTIFY_CHANNEL, code_source, queue_broadcast
from admin.services.broadcasts_recipients import Audience, renderer
from admin.services.errors import NotFound, ValidationError
from admin.services.message_body import Body, BodyError, parse_body
from admin.services.scheduling import schedule_from
from core.codes import CODE_LENGTH
from core.urls import short_url

INSERT_CHUNK = 20_000
MAX_CONTACT_IDS = 200_000


# -- input ----------------------------------------------------------------------------------


def audience_of(org_id: int, data: Mapping[str, Any]) -> Audience:
    """The audience of a request body: ``follow_up`` (a segment of an earlier broadcast:
    clicked, did_not_click, replied) or ``contact_ids``, ``list`` and ``tag``."""
    follow_up = data.get("follow_up")
    if follow_up is None:
        return audience_from(data)
    ids = results.segment_contacts(org_id, follow_up)
    if not ids:
        raise ValidationError("follow_up.segment", "no one is in this segment")
    return Audience(ids, follow_up=(int(follow_up["broadcast_id"]), str(follow_up["segment"])))


def audience_from(data: Mapping[str, Any]) -> Audience:
    """Read ``contact_ids``, ``list`` and ``tag`` from a request body; at least one is needed."""
    raw_ids = data.get("contact_ids")
    ids: list[int] = []
    if raw_ids is not None:
        if not isinstance(raw_ids, list):
            raise ValidationError("contact_ids", "contact_ids must be a list of ids")
        if len(raw_ids) > MAX_CONTACT_IDS:
            raise ValidationError("contact_ids", f"at most {MAX_CONTACT_IDS} contact ids at once")
        for value in raw_ids:
            if isinstance(value, str) and value.strip().isdecimal():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
                raise ValidationError("contact_ids", "contact_ids must be a list of ids")
            ids.append(value)
    names: dict[str, str | None] = {}
    for field in ("list", "tag"):
        value = data.get(field)
        if value is None or value == "":
            names[field] = None
        elif not isinstance(value, str) or not value.strip() or len(value) > 100:
            raise ValidationError(field, f"{field} must be the name of a {field}")
        else:
            names[field] = value.strip()
    if not ids and not names["list"] and not names["tag"]:
        raise ValidationError("contact_ids", "choose recipients: contact_ids, a list or a tag")
    return Audience(tuple(dict.fromkeys(ids)), names["list"], names["tag"])


def checked_body(source: Any, link: Link | None, field: str = "body") -> Body:
    try:
        body = parse_body(source)
    except BodyError as exc:
        raise ValidationError(field, f"{field}: {exc}") from None
    if body.has_link and link is None:
        raise ValidationError("link_id", "the body holds {{link}}: choose a link (link_id)")
    if link is not None and not body.has_link:
        raise ValidationError(field, f"{field} must hold {{{{link}}}} where the link goes")
    return body


def sendable_link(org_id: int, link_id: Any, field: str = "link_id") -> Link | None:
    """The organisation's link (None when no link is given); archived links cannot be sent."""
    if link_id is None or link_id == "":
        return None
    if isinstance(link_id, str) and link_id.strip().isdecimal():
        link_id = int(link_id)
    if isinstance(link_id, bool) or not isinstance(link_id, int) or not 0 < link_id < 2**63:
        raise ValidationError(field, f"{field} must be an id")
    link = db.session.scalar(select(Link).where(Link.id == link_id, Link.org_id == org_id))
    if link is None:
        raise NotFound(field, "no such link")
    if link.archived:
        raise ValidationError(field, "the link is archived; unarchive it to send it")
    return link


# -- preview --------------------------------------------------------------------------------


def sample_url(link: Link, scheme: str) -> str:
    """A URL as long as the ones the contacts will get (codes have a fixed length)."""
    return short_url(scheme, link.domain.hostname, "x" * CODE_LENGTH, link.extension)


def segment_summary(bodies: Iterable[str]) -> dict[str, Any]:
    """Segments per message (the most any recipient's message needs), in total, and encoding."""
    most = total = 0
    fewest: int | None = None
    encoding = "GSM-7"
    longest = 0
    for text_ in bodies:
        seg = segments.count(text_)
        total += seg.segments
        most = max(most, seg.segments)
        fewest = seg.segments if fewest is None else min(fewest, seg.segments)
        longest = max(longest, seg.units)
        if seg.encoding == "UCS-2":
            encoding = "UCS-2"
    return {
        "segments": most,
        "segments_min": fewest or 0,
        "segments_total": total,
        "encoding": encoding,
        "characters": longest,
    }


def preview_message(
    org_id: int, contact_id: Any, body_source: Any, link_id: Any = None, *, scheme: str
) -> dict[str, Any]:
    """One contact's message before it is sent (a URL as long as theirs stands in for it:
    previewing issues no code)."""
    link = sendable_link(org_id, link_id)
    body = checked_body(body_source, link)
    contact = contact_in_org(org_id, contact_id)
    row = (contact.id, contact.phone, contact.first_name, contact.last_name, contact.email,
           contact.fields or {}, contact.opted_out)  # fmt: skip
    text_ = renderer(body)(row, sample_url(link, scheme) if link is not None else "")
    seg = segments.count(text_)
    return {"text": text_, **seg.as_dict()}


# -- queueing -------------------------------------------------------------------------------

_INSERT_MESSAGES = text(
    """
    WITH m AS (
        INSERT INTO messages (org_id, contact_id, library_action_id, user_id,
                              link_id, direction, to_phone, body, segments, encoding, status,
                              compliance)
        SELECT :org_id, u.contact_id, :library_action_id, :user_id,
               :link_id, 'out', u.to_phone, u.body, u.segments, u.encoding, 'queued',
               :compliance
        FROM unnest(:contact_ids, :phones, :bodies, :segments, :encodings)
             AS u(contact_id, to_phone, body, segments, encoding)
        RETURNING id, org_id, contact_id, body, link_id, user_id, created_at
    )
    INSERT INTO history_events (org_id, contact_id, type, body, link_id, message_id, user_id, at)
    SELECT org_id, contact_id, 'message_out', body, link_id, id, user_id, created_at FROM m
    RETURNING message_id
    """
).bindparams(
    bindparam("contact_ids", type_=ARRAY(BIGINT)),
    bindparam("phones", type_=ARRAY(TEXT)),
    bindparam("bodies", type_=ARRAY(TEXT)),
    bindparam("segments", type_=ARRAY(INTEGER)),
    bindparam("encodings", type_=ARRAY(TEXT)),
)


def queue_messages(
    org_id: int,
    items: Sequence[tuple[int, str, str]],
    *,
    link_id: int | None,
    library_action_id: int | None = None,
    user_id: int | None = None,
    compliance: bool = False,
) -> list[int]:
    """Queue ``(contact_id, phone, body)`` messages with their history events, in the
    caller's transaction (the sender is woken when it commits); returns the message ids. Never
    a broadcast's: broadcasts_queue COPYs those, and they are their own history entries.
    ``compliance``: an opt-out confirmation or HELP answer, sent even to an opted-out contact."""
    ids: list[int] = []
    for start in range(0, len(items), INSERT_CHUNK):
        chunk = items[start : start + INSERT_CHUNK]
        counts = [segments.count(b) for _, _, b in chunk]
        result = db.session.execute(
            _INSERT_MESSAGES,
            {
                "org_id": org_id,
                "library_action_id": library_action_id,
                "user_id": user_id,
                "link_id": link_id,
                "compliance": compliance,
                "contact_ids": [c for c, _, _ in chunk],
                "phones": [p for _, p, _ in chunk],
                "bodies": [b for _, _, b in chunk],
                "segments": [max(1, s.segments) for s in counts],
                "encodings": [s.encoding for s in counts],
            },
        )
        ids.extend(result.scalars())
    db.session.execute(text("SELECT pg_notify(:c, '')"), {"c": NOTIFY_CHANNEL})
    return ids


def short_urls(
    org_id: int, link: Link, contact_ids: list[int], scheme: str, **issue: Any
) -> dict[int, str]:
    """Each contact's own short URL for ``link``, issued in bulk (the same URL on reissue);
    ``issue``: codes.issue_codes' ``commit`` and ``source``."""
    return dict(codes.issue_codes(org_id, link.id, contact_ids, scheme=scheme, **issue))


def default_source(broadcast_id: int) -> str:
    """A broadcast's refcode when none is given. Letters, digits and an underscore only:
    ActBlue takes no other punctuation in a refcode, and every other preset takes these."""
    return f"sl_b{broadcast_id}"


def create_broadcast(
    org_id: int, data: Mapping[str, Any], user_id: int | None = None, *, scheme: str
) -> tuple[Broadcast, int]:
    """A broadcast and its messages, queued; returns it and its number of messages."""
    link = sendable_link(org_id, data.get("link_id"))
    body = checked_body(data.get("body"), link)
    audience = audience_of(org_id, data)
    send_at, quiet = schedule_from(data)
    broadcast = Broadcast(
        org_id=org_id,
        link_id=link.id if link is not None else None,
        body=body.source,
        status="scheduled" if send_at else "queued",
        created_by=user_id,
        send_at=send_at,
        quiet_hours=quiet,
        source=inputs.text("source", data.get("source"), 64),
    )
    db.session.add(broadcast)
    db.session.flush()
    broadcast.source = broadcast.source or default_source(broadcast.id)
    # Who sent it is on the broadcast (created_by), not on each of its messages: every foreign
    # key on a row costs a lookup, and a broadcast writes 1,000,000 rows.
    queued = queue_broadcast(broadcast, body, link, audience, scheme=scheme, send_at=send_at,
                             quiet=quiet)  # fmt: skip
    if not queued.messages:
        db.session.rollback()  # the broadcast row and anything else of this transaction
        skipped, unreachable = queued.opted_out, queued.unreachable
        raise ValidationError(
            audience.field,
            f"no one to send to ({skipped} opted out, {unreachable} unreachable)"
            if skipped or unreachable else "no one to send to",
        )  # fmt: skip
    broadcast.total, broadcast.skipped = queued.messages, queued.opted_out
    broadcast.audience = {**audience.describe(), "unreachable": queued.unreachable}
    db.session.commit()
    return broadcast, queued.messages


def send_to_contact(
    org_id: int,
    contact_id: Any,
    body_source: Any,
    link_id: Any = None,
    *,
    user_id: int | None = None,
    library_action_id: int | None = None,
    commit: bool = True,
    scheme: str,
    source: str | None = None,
) -> int:
    """One message to one contact (a team member's, or a library action); returns its id.
    ``source``: a broadcast's refcode (a test send of it), which the code carries when the
    link's destination merges ``{{source}}``."""
    link = sendable_link(org_id, link_id)
    body = checked_body(body_source, link)
    contact = contact_in_org(org_id, contact_id)
    if contact.opted_out:
        raise ValidationError("contact_id", "this contact has opted out of messages")
    url = ""
    if link is not None:
        issue = {"source": code_source(link, source)} if source else {}
        url = short_urls(org_id, link, [contact.id], scheme, **issue)[contact.id]
    row = (contact.id, contact.phone, contact.first_name, contact.last_name, contact.email,
           contact.fields or {}, contact.opted_out)  # fmt: skip
    (message_id,) = queue_messages(
        org_id,
        [(contact.id, contact.phone, renderer(body)(row, url))],
        link_id=link.id if link is not None else None,
        library_action_id=library_action_id,
        user_id=user_id,
    )
    if commit:
        db.session.commit()
    return message_id


def contact_in_org(org_id: int, contact_id: Any, field: str = "contact_id") -> Contact:
    if isinstance(contact_id, str) and contact_id.strip().isdecimal():
        contact_id = int(contact_id)
    if (
        isinstance(contact_id, bool)
        or not isinstance(contact_id, int)
        or not 0 < contact_id < 2**63
    ):
        raise ValidationError(field, f"{field} must be an id")
    contact = db.session.scalar(
        select(Contact).where(Contact.id == contact_id, Contact.org_id == org_id)
    )
    if contact is None:
        raise NotFound(field, "no such contact")
    return contact
