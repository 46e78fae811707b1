"""Issued codes: one random base62 code per (link, contact), and the short URLs they make.

This module sits above services/links.py (it issues for a link of the organisation); a link's
generic, contact-less code is made with the link, by services/links.py.

Codes are unique across all organisations (the primary key), random (core.codes.new_code), so
contacts' URLs cannot be enumerated. Issuing is bulk SQL: one INSERT ... SELECT FROM unnest()
with ON CONFLICT DO NOTHING for any number of contacts; only when a code was taken (or a
concurrent call issued the same contacts) are the codes read back and the few missing retried.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any, cast

from sqlalchemy import CursorResult, text

from admin.extensions import db
from admin.models import Link
from admin.services import inputs, links, outbox
from admin.services.errors import Conflict, NotFound, ValidationError
from core import keys, urls
from core.codes import ALPHABET, CODE_LENGTH, issuable, new_code

OUTBOX_CHUNK = 10_000  # codes per outbox row (the sync convention)
# REDIS_PARTITIONS of the Redis the codes are published to (core/keys.py). A deployment
# setting, not a request's, but services never read the app (tests/test_admin_layers.py): the
# app sets it before each request (admin/__init__.py) and code issued outside one, by a
# command or a test, uses one partition unless it passes its own.
PARTITIONS: ContextVar[int] = ContextVar("redis_partitions", default=1)
MAX_ATTEMPTS = links.MAX_CODE_ATTEMPTS
MAX_CONTACTS = 1_000_000

# Random bytes to base62 without bias: keep bytes below 248 (= 4 * 62), map b -> ALPHABET[b % 62].
_TO_BASE62 = bytes(ord(ALPHABET[b % len(ALPHABET)]) for b in range(256))
_UNEVEN = bytes(range(4 * len(ALPHABET), 256))


def new_codes(count: int) -> list[str]:
    """``count`` random codes like core.codes.new_code makes, fast enough for 100,000."""
    needed = count * CODE_LENGTH
    chars = b""
    while len(chars) < needed:
        # 248/256 of the bytes survive; ask for a little more than needed.
        chars += secrets.token_bytes((needed - len(chars)) * 9 // 8 + 16).translate(
            _TO_BASE62, _UNEVEN
        )
    joined = chars[:needed].decode("ascii")
    codes = [joined[i : i + CODE_LENGTH] for i in range(0, needed, CODE_LENGTH)]
    return [code if issuable(code) else new_code() for code in codes]


def codes_for(contact_ids: Sequence[int], partitions: int) -> list[str]:
    """A new code for each contact, in its contact's partition (REDIS_PARTITIONS): its
    2-character bucket prefix is one of that partition's, so that the edge reads the code and
    the contact in one slot, one round trip (docs/decisions/0011-cluster-layout.md)."""
    codes = new_codes(len(contact_ids))
    if partitions == 1:
        return codes
    out = []
    for code, contact_id in zip(codes, contact_ids, strict=True):
        prefixes = _prefixes(keys.contact_partition(contact_id, partitions), partitions)
        while not issuable(code := secrets.choice(prefixes) + code[keys.CODE_BUCKET_PREFIX_LEN :]):
            code = new_code()
        out.append(code)
    return out


@functools.cache
def _prefixes(partition: int, partitions: int) -> list[str]:
    return keys.bucket_prefixes(partition, partitions)


_INSERT = text(
    """
    INSERT INTO issued_codes (code, org_id, link_id, contact_id, source)
    SELECT new.code, :org_id, :link_id, new.contact_id, CAST(:source AS text)
    FROM unnest(CAST(:codes AS text[]), CAST(:contact_ids AS bigint[])) AS new(code, contact_id)
    ORDER BY new.contact_id  -- one lock order for every caller: concurrent issues never deadlock
    ON CONFLICT DO NOTHING
    """
)
_EXISTING = text(
    "SELECT contact_id, code FROM issued_codes "
    "WHERE link_id = :link_id AND contact_id = ANY(CAST(:contact_ids AS bigint[]))"
    " AND source IS NOT DISTINCT FROM CAST(:source AS text)"
)
# The organisation's contacts among the ids, each with its code for the link if it has one.
_OWNED = text(
    """
    SELECT c.id, ic.code FROM contacts c
    LEFT JOIN issued_codes ic ON ic.link_id = :link_id AND ic.contact_id = c.id
        AND ic.source IS NOT DISTINCT FROM CAST(:source AS text)
    WHERE c.org_id = :org_id AND c.id = ANY(CAST(:contact_ids AS bigint[]))
    """
)


# What a foreign-key check did per row, once per call (issued_codes and messages have no keys to
# their organisation and link, migration 0011_broadcast_bulk): the parents are there, and
# locked as the checks locked them, so that a delete of either waits for this transaction and
# its triggers then see (and cascade to) the rows written here.
_HOLD_ORG = text("SELECT id FROM organisations WHERE id = :org_id FOR KEY SHARE")
_HOLD_LINK = text("SELECT id FROM links WHERE id = :link_id AND org_id = :org_id FOR KEY SHARE")


def hold_parents(org_id: int, link_id: int | None) -> None:
    """Lock the organisation and its link (if any) for the rows this transaction writes under
    them; RuntimeError when either is gone (callers read both just before)."""
    ids = {"org_id": org_id, "link_id": link_id}
    for query in (_HOLD_ORG, _HOLD_LINK) if link_id is not None else (_HOLD_ORG,):
        if db.session.scalar(query, ids) is None:
            raise RuntimeError(f"organisation {org_id} or its link {link_id} is gone")


def short_url(link: Link, code: str, scheme: str) -> str:
    """The link's short URL for ``code``, as it goes into a message; the scheme is the
    SHORT_URL_SCHEME setting, passed in by the caller."""
    return urls.short_url(scheme, link.domain.hostname, code, link.extension)


def _contact_ids(values: Any) -> list[int]:
    if not isinstance(values, Sequence) or isinstance(values, str | bytes):
        raise ValidationError("contact_ids", "contact_ids must be a list of contact ids")
    if len(values) > MAX_CONTACTS:
        raise ValidationError("contact_ids", f"at most {MAX_CONTACTS} contacts per call")
    ids = [inputs.record_id(f"contact_ids[{i}]", v) for i, v in enumerate(values)]
    return list(dict.fromkeys(ids))  # once each, in the order given


def _existing(link_id: int, contact_ids: list[int], source: str | None) -> dict[int, str]:
    rows = db.session.execute(
        _EXISTING, {"link_id": link_id, "contact_ids": contact_ids, "source": source},
    )
    return {contact_id: code for contact_id, code in rows}


def issue_codes(
    org_id: int,
    link_id: int,
    contact_ids: Any,
    *,
    scheme: str = "https",
    commit: bool = True,
    source: str | None = None,
    partitions: int | None = None,
) -> list[tuple[int, str]]:
    """Each contact's short URL for the link, in order; a contact issued before keeps its code.
    ``source``: a broadcast's refcode, for a destination with ``{{source}}``: such codes are
    apart from the contact's plain one, one per (link, contact, source), and the edge merges
    their source into the destination.

    Raises NotFound("contact_ids") when an id is not one of the organisation's contacts.
    With ``commit=False`` the codes and their outbox rows stay in the caller's transaction.
    ``scheme`` is the SHORT_URL_SCHEME setting (routes pass it; its default is the setting's),
    ``partitions`` the REDIS_PARTITIONS setting (each code goes to its contact's partition).
    """
    link = links.get_link(org_id, link_id)
    ids = _contact_ids(contact_ids)
    if link.archived:
        raise Conflict("link_id", "the link is archived: unarchive it to issue codes")
    if not ids:
        return []
    owned = {
        contact_id: code
        for contact_id, code in db.session.execute(
            _OWNED, {"org_id": org_id, "link_id": link.id, "contact_ids": ids, "source": source},
        )
    }
    if len(owned) != len(ids):
        missing = [i for i in ids if i not in owned]
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise NotFound("contact_ids", f"no such contacts: {shown}")

    found = {contact_id: code for contact_id, code in owned.items() if code is not None}
    new = [i for i in ids if i not in found]
    if new:
        hold_parents(org_id, link.id)
    found.update(issue_new(org_id, link.id, new, source, partitions))
    host, extension = link.domain.hostname, link.extension  # read before the commit expires it
    if commit:
        db.session.commit()
    return [(i, urls.short_url(scheme, host, found[i], extension)) for i in ids]


def issue_new(
    org_id: int,
    link_id: int,
    contact_ids: list[int],
    source: str | None,
    partitions: int | None = None,
) -> dict[int, str]:
    """Codes for the organisation's contacts that have none yet for (link, source), with their
    outbox rows, in the caller's transaction; returns each contact's code. The contacts are
    not checked (the caller read them from the organisation's own rows), and the caller holds
    the organisation and link (``hold_parents``, once per transaction, not once per chunk)."""
    found: dict[int, str] = {}
    fresh: list[str] = []
    missing = contact_ids
    for _ in range(MAX_ATTEMPTS):
        if not missing:
            break
        codes = codes_for(missing, partitions or PARTITIONS.get())
        result = db.session.execute(
            _INSERT,
            {"org_id": org_id, "link_id": link_id, "codes": codes, "contact_ids": missing,
             "source": source},  # fmt: skip
        )
        inserted = cast("CursorResult[Any]", result).rowcount
        if inserted == len(missing):
            # Every code was free: no RETURNING to read back (a broadcast issues 1 M).
            found.update(zip(missing, codes, strict=True))
            fresh.extend(codes)
            missing = []
            break
        # A taken code, or a concurrent call issued some of these contacts first: read back
        # what this chunk's contacts hold now, and try again for those that hold nothing.
        ours = dict(zip(missing, codes, strict=True))
        held = _existing(link_id, missing, source)
        found.update(held)
        fresh.extend(code for contact_id, code in held.items() if ours[contact_id] == code)
        missing = [i for i in missing if i not in held]
    if missing:
        raise RuntimeError("could not find free codes")
    for start in range(0, len(fresh), OUTBOX_CHUNK):
        chunk = fresh[start : start + OUTBOX_CHUNK]
        outbox.enqueue("codes", link_id, outbox.next_version(), {"codes": chunk})
    return found
