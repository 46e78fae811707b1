"""msgspec records written to Redis by sync and read by the edge, and the click event the edge
appends to the click stream for drain.

Rules (edge and sync deploy separately): new fields get defaults, types never change, and a
field is never renamed. Records are MessagePack maps (not arrays) so that an older reader
ignores fields it does not know.
"""

from __future__ import annotations

import msgspec


# Domain and link records have scalar fields only, so they can never be part of a reference
# cycle: gc=False keeps the collector from tracking them, and with them the edge's long-lived
# notes of recent answers (edge/memory.py), which a full collection otherwise walks (~12 ms per
# 20,000 new codes: docs/performance.md, issue 16's tail).
class DomainRecord(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    id: int
    org_id: int
    hostname: str
    version: int
    fallback_url: str = ""
    deleted: bool = False


class LinkRecord(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    id: int
    org_id: int
    domain_id: int
    hostname: str
    version: int
    destination: str
    name: str = ""
    extension: str = ""
    preview_title: str = ""
    preview_description: str = ""
    preview_image_url: str = ""
    archived: bool = False
    deleted: bool = False
    # After this instant (Unix ms) the link answers like an archived one; 0: it never expires.
    expires_at_ms: int = 0


class ContactRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    id: int
    org_id: int
    version: int
    phone: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    fields: dict[str, str] = {}
    deleted: bool = False


class ClickEvent(msgspec.Struct, frozen=True, omit_defaults=True):
    """What the edge knows of a hit before the lookup. The server-side function appends the
    link, contact and domain ids it resolved (stream field ``r``)."""

    click_id: str
    ts_ms: int
    code: str
    host: str
    kind: str  # core.clicks.CLICK_KINDS (a str: a record field never changes type)
    reason: str = ""
    user_agent: str = ""
    ip: str = ""
    referer: str = ""
    merge_fallback: bool = False


class ClickAmendment(msgspec.Struct, frozen=True, omit_defaults=True):
    """A later fact about a click already appended (rare: the merged URL was too long)."""

    click_id: str
    merge_fallback: bool = False


encoder = msgspec.msgpack.Encoder()
domain_decoder = msgspec.msgpack.Decoder(DomainRecord)
link_decoder = msgspec.msgpack.Decoder(LinkRecord)
contact_decoder = msgspec.msgpack.Decoder(ContactRecord)
click_decoder = msgspec.msgpack.Decoder(ClickEvent)
amendment_decoder = msgspec.msgpack.Decoder(ClickAmendment)


def encode(record: msgspec.Struct) -> bytes:
    return encoder.encode(record)


# Click stream entry fields.
STREAM_EVENT = "e"  # msgpack ClickEvent
STREAM_REF = "r"  # "<link_id>:<contact_id>:<domain_id>" as resolved by the edge's function
STREAM_AMEND = "a"  # msgpack ClickAmendment (an entry with this field carries no click)


def code_entry(link_id: int, contact_id: int | None, source: str = "") -> str:
    """The value stored for a code in its bucket: ``link_id:contact_id`` (empty for generic),
    then ``:source`` for a code a broadcast issued with its refcode (everything after the second
    colon, so a source may hold a colon). Deploy the edge before sync writes such entries: an
    older edge would read ``contact_id:source`` as the contact id."""
    entry = f"{link_id}:{contact_id if contact_id is not None else ''}"
    return f"{entry}:{source}" if source else entry


def parse_code_entry(value: str) -> tuple[int, int | None, str]:
    link_part, _, rest = value.partition(":")
    contact_part, _, source = rest.partition(":")
    return int(link_part), (int(contact_part) if contact_part else None), source


def parse_ref(value: str) -> tuple[int, int | None, int]:
    link_part, contact_part, domain_part = value.split(":")
    return int(link_part), (int(contact_part) if contact_part else None), int(domain_part)
