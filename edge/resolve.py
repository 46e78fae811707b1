"""Host + code -> domain, link and contact records, and the click appended, in ONE Redis round trip.

A Lua script (EVALSHA; loaded again on NOSCRIPT, e.g. after a Redis restart or SCRIPT FLUSH) walks domain -> code bucket -> link -> contact and, for a counted hit, XADDs the
click event with the ids it resolved. Doing it server-side means the edge never needs a second
trip to learn the link id before it can read the link, nor a third for the contact, nor a
fourth to append the click.

The script appends the click only while Redis's clock (TIME) is before a deadline the edge
sets at RECORD_BUDGET_S after sending, well before the edge can give up waiting (the wire's
timeout): a script that runs late (Redis stalled, then resumed) records nothing, so a visitor
who got a 503 is never counted (docs/decisions/0006-no-phantom-clicks.md). A late script that
still answers in time says so (``recorded`` false) and the edge records the click itself.

Not Redis-Cluster-safe as written: the link and contact keys are computed inside the script
(see docs/decisions/0004-edge-hot-path.md for the hash-tagged layout a cluster would need).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from string import Template

import msgspec

from core import keys, records
from core.records import ContactRecord, DomainRecord, LinkRecord
from edge.wire import ReplyError, Wire, WireError, WireLost

# Short socket timeouts: a Redis that does not answer gives a quick 503, never a hang.
SOCKET_TIMEOUT_S = 0.25
CONNECT_TIMEOUT_S = 0.25

# The script records a click only until this long after the edge sent the request (in Redis's
# clock); the edge gives up at SOCKET_TIMEOUT_S at the earliest, so a reply to a script that
# ran in time has at least this long again to reach the edge.
RECORD_BUDGET_S = SOCKET_TIMEOUT_S / 2

# KEYS: domain key, code bucket, click stream. ARGV: code, "1" to record, encoded ClickEvent,
# deadline (µs since the epoch, Redis's clock), the edge's clock (Unix ms: an expired link
# answers like an archived one, nothing recorded). Returns {outcome, domain d, link d,
# contact d, ref, recorded, source} (outcomes as in Outcome below; ref is the stream's "r" field;
# source: the broadcast's refcode a code carries after a second colon, core.records.code_entry).
_SCRIPT = Template("""
local dom = redis.call('HMGET', KEYS[1], '$F_DATA', 'id', '$F_STATE')
if not dom[1] or dom[3] == 'x' then return {0} end
local entry = redis.call('HGET', KEYS[2], ARGV[1])
if not entry then return {1, dom[1]} end
local sep = string.find(entry, ':', 1, true)
if not sep then return {1, dom[1]} end
local link_id = string.sub(entry, 1, sep - 1)
local contact_id = string.sub(entry, sep + 1)
local source = ''
local sep2 = string.find(contact_id, ':', 1, true)
if sep2 then
  source = string.sub(contact_id, sep2 + 1)
  contact_id = string.sub(contact_id, 1, sep2 - 1)
end
local link = redis.call('HMGET', '$LINK_PREFIX' .. link_id, '$F_DATA', '$F_DOMAIN_ID', '$F_STATE', '$F_EXPIRES')
if not link[1] or link[2] ~= dom[2] then return {1, dom[1]} end
if link[3] == 'x' then return {2, dom[1], link[1]} end
local expires = tonumber(link[4] or '0') or 0
if expires > 0 and expires <= tonumber(ARGV[5]) then return {2, dom[1], link[1]} end
local contact = false
if contact_id ~= '' then
  contact = redis.call('HGET', '$CONTACT_PREFIX' .. contact_id, '$F_DATA')
end
local ref = link_id .. ':' .. contact_id .. ':' .. dom[2]
local recorded = 0
if ARGV[2] == '1' then
  local now = redis.call('TIME')
  if tonumber(now[1]) * 1000000 + tonumber(now[2]) <= tonumber(ARGV[4]) then
    redis.call('XADD', KEYS[3], '*', '$STREAM_EVENT', ARGV[3], '$STREAM_REF', ref)
    recorded = 1
  end
end
return {3, dom[1], link[1], contact, ref, recorded, source}
""").substitute(
    F_DATA=keys.F_DATA,
    F_STATE=keys.F_STATE,
    F_EXPIRES=keys.F_EXPIRES,
    F_DOMAIN_ID=keys.F_DOMAIN_ID,
    LINK_PREFIX=keys.link(""),
    CONTACT_PREFIX=keys.contact(""),
    STREAM_EVENT=records.STREAM_EVENT,
    STREAM_REF=records.STREAM_REF,
)


class Outcome(IntEnum):
    UNKNOWN_HOST = 0  # no domain record, or its tombstone
    UNKNOWN_CODE = 1  # no such code on this domain (or its link belongs to another domain)
    ARCHIVED = 2  # the link is archived, deleted or expired: nothing recorded
    FOUND = 3  # link (and contact, for a contact's code) found; the click is appended if asked


@dataclass(frozen=True, slots=True)
class Resolution:
    outcome: Outcome
    domain: DomainRecord | None = None
    link: LinkRecord | None = None
    contact: ContactRecord | None = None  # None for a generic code or a deleted contact
    contact_raw: bytes | None = None  # the contact's record as stored (what the edge remembers)
    ref: bytes = b""  # "<link_id>:<contact_id>:<domain_id>", the stream's "r" field
    recorded: bool = False  # the script appended the click (asked, and before its deadline)
    remembered: bool = False  # answered from the worker's memory, not by Redis (edge/memory.py)
    source: str = ""  # the refcode of the broadcast that issued the code ({{source}})


class RedisUnavailable(Exception):
    """Redis did not answer in time (or refused): the edge answers 503 with Retry-After."""


def connect(url: str) -> Wire:
    """The edge's Redis connection (edge/wire.py: one pipelined connection per worker)."""
    return Wire(url, timeout=SOCKET_TIMEOUT_S, connect_timeout=CONNECT_TIMEOUT_S)


class Resolver:
    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self.sha = hashlib.sha1(_SCRIPT.encode()).hexdigest()  # noqa: S324 (Redis's script id)
        self.decode = ReplyDecoder()

    async def load(self) -> None:
        """Load the script ahead of the first request (best effort: Redis may be down)."""
        with contextlib.suppress(WireError, ReplyError):
            await self.wire.call("SCRIPT", "LOAD", _SCRIPT)

    async def _call(self, *args: bytes | str | int) -> object:
        """One command; one retry when the connection was lost (a restarted Redis), none after
        a timeout. A retried XADD could append a click twice: drain dedupes on click_id."""
        try:
            return await self.wire.call(*args)
        except WireLost:
            return await self.wire.call(*args)

    async def resolve(self, hostname: str, code: str, event: bytes | None) -> Resolution:
        """The records for ``hostname``/``code``; ``event`` (an encoded ClickEvent) is appended
        to the click stream when the link is live. Raises RedisUnavailable."""
        deadline_us = time.time_ns() // 1000 + self.wire.clock_offset_us + _RECORD_BUDGET_US
        args = (
            keys.domain(hostname),
            keys.code_bucket(code),
            keys.CLICK_STREAM,
            code,
            b"1" if event is not None else b"0",
            event or b"",
            deadline_us,
            int(time.time() * 1000),
        )
        try:
            try:
                reply = await self._call("EVALSHA", self.sha, 3, *args)
            except ReplyError as exc:
                if not str(exc).startswith("NOSCRIPT"):
                    raise
                # Redis restarted or its scripts were flushed: load again, once.
                await self._call("SCRIPT", "LOAD", _SCRIPT)
                reply = await self._call("EVALSHA", self.sha, 3, *args)
        except (WireError, ReplyError) as exc:
            raise RedisUnavailable(str(exc)) from exc
        return self.decode(reply)  # type: ignore[arg-type]

    async def append(self, fields: Mapping[str, bytes]) -> None:
        """A rare extra stream entry (an amendment); errors are the caller's to log."""
        flat = [item for pair in fields.items() for item in pair]
        try:
            await self._call("XADD", keys.CLICK_STREAM, "*", *flat)
        except (WireError, ReplyError) as exc:
            raise RedisUnavailable(str(exc)) from exc

    async def ping(self) -> bool:
        try:
            return await self._call("PING") == b"PONG"
        except (WireError, ReplyError):
            return False

    def close(self) -> None:
        self.wire.close()


_RECORD_BUDGET_US = int(RECORD_BUDGET_S * 1_000_000)
_CACHED_RECORDS = 4096  # decoded domain and link records kept per worker (by their bytes)


class ReplyDecoder:
    """Decodes the script's replies. Domain and link records are cached by their bytes: the
    same few records come back on nearly every request, so this saves their decoding, and the
    edge's memory of recent answers (edge/memory.py) shares one object per record instead of a
    copy per code."""

    def __init__(self) -> None:
        self.domains: dict[bytes, DomainRecord] = {}
        self.links: dict[bytes, LinkRecord] = {}

    def domain(self, raw: bytes) -> DomainRecord:
        record = self.domains.get(raw)
        if record is None:
            if len(self.domains) >= _CACHED_RECORDS:
                self.domains.clear()
            record = self.domains[raw] = records.domain_decoder.decode(raw)
        return record

    def link(self, raw: bytes) -> LinkRecord:
        record = self.links.get(raw)
        if record is None:
            if len(self.links) >= _CACHED_RECORDS:
                self.links.clear()
            record = self.links[raw] = records.link_decoder.decode(raw)
        return record

    def __call__(self, reply: list[bytes | int | None]) -> Resolution:
        outcome = Outcome(int(reply[0]))  # type: ignore[arg-type]
        if outcome is Outcome.UNKNOWN_HOST:
            return Resolution(outcome)
        domain = self.domain(reply[1])  # type: ignore[arg-type]
        if outcome is Outcome.UNKNOWN_CODE:
            return Resolution(outcome, domain)
        link = self.link(reply[2])  # type: ignore[arg-type]
        if outcome is not Outcome.FOUND:
            return Resolution(outcome, domain, link)
        raw = reply[3] if len(reply) > 3 and reply[3] else None
        return Resolution(
            outcome,
            domain,
            link,
            contact_for(link, raw),  # type: ignore[arg-type]
            raw,  # type: ignore[arg-type]
            reply[4] if len(reply) > 4 else b"",  # type: ignore[arg-type]
            len(reply) > 5 and reply[5] == 1,
            source=_text(reply[6]) if len(reply) > 6 else "",
        )


def contact_for(link: LinkRecord, raw: bytes | None) -> ContactRecord | None:
    """The contact to merge into ``link``: None when there is none, it is unreadable (merged
    like an unknown one: defaults only), deleted, or of another organisation."""
    if raw is None:
        return None
    try:
        contact = records.contact_decoder.decode(raw)
    except msgspec.DecodeError:
        return None
    if contact.deleted or contact.org_id != link.org_id:
        return None
    return contact


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else ""


def decode_reply(reply: list[bytes | int | None]) -> Resolution:
    """One reply decoded without the cache (tests, benchmarks)."""
    return ReplyDecoder()(reply)
