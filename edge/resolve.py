"""Host + code -> domain, link and contact records, and the click appended, in ONE Redis round trip.

A Lua script (EVALSHA; loaded again on NOSCRIPT, e.g. after a Redis restart or SCRIPT FLUSH) walks domain -> code bucket -> link -> contact and, for a counted hit, XADDs the
click event with the ids it resolved. Doing it server-side means the edge never needs a second
trip to learn the link id before it can read the link, nor a third for the contact, nor a
fourth to append the click.

Not Redis-Cluster-safe as written: the link and contact keys are computed inside the script
(see docs/decisions/0004-edge-hot-path.md for the hash-tagged layout a cluster would need).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
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

# KEYS: domain key, code bucket, click stream. ARGV: code, "1" to record, encoded ClickEvent,
# the edge's clock (Unix ms: an expired link answers like an archived one, nothing recorded).
# Returns {outcome, domain d, link d, contact d} (outcomes as in Outcome below).
_SCRIPT = Template("""
local dom = redis.call('HMGET', KEYS[1], '$F_DATA', 'id', '$F_STATE')
if not dom[1] or dom[3] == 'x' then return {0} end
local entry = redis.call('HGET', KEYS[2], ARGV[1])
if not entry then return {1, dom[1]} end
local sep = string.find(entry, ':', 1, true)
if not sep then return {1, dom[1]} end
local link_id = string.sub(entry, 1, sep - 1)
local contact_id = string.sub(entry, sep + 1)
local link = redis.call('HMGET', '$LINK_PREFIX' .. link_id, '$F_DATA', '$F_DOMAIN_ID', '$F_STATE', '$F_EXPIRES')
if not link[1] or link[2] ~= dom[2] then return {1, dom[1]} end
if link[3] == 'x' then return {2, dom[1], link[1]} end
local expires = tonumber(link[4] or '0') or 0
if expires > 0 and expires <= tonumber(ARGV[4]) then return {2, dom[1], link[1]} end
local contact = false
if contact_id ~= '' then
  contact = redis.call('HGET', '$CONTACT_PREFIX' .. contact_id, '$F_DATA')
end
if ARGV[2] == '1' then
  redis.call('XADD', KEYS[3], '*', '$STREAM_EVENT', ARGV[3],
             '$STREAM_REF', link_id .. ':' .. contact_id .. ':' .. dom[2])
end
return {3, dom[1], link[1], contact}
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


class RedisUnavailable(Exception):
    """Redis did not answer in time (or refused): the edge answers 503 with Retry-After."""


def connect(url: str) -> Wire:
    """The edge's Redis connection (edge/wire.py: one pipelined connection per worker)."""
    return Wire(url, timeout=SOCKET_TIMEOUT_S, connect_timeout=CONNECT_TIMEOUT_S)


class Resolver:
    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self.sha = hashlib.sha1(_SCRIPT.encode()).hexdigest()  # noqa: S324 (Redis's script id)

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
        args = (
            keys.domain(hostname),
            keys.code_bucket(code),
            keys.CLICK_STREAM,
            code,
            b"1" if event is not None else b"0",
            event or b"",
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
        return decode_reply(reply)  # type: ignore[arg-type]

    async def append(self, fields: dict[str, bytes]) -> None:
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


def decode_reply(reply: list[bytes | int | None]) -> Resolution:
    outcome = Outcome(int(reply[0]))  # type: ignore[arg-type]
    if outcome is Outcome.UNKNOWN_HOST:
        return Resolution(outcome)
    domain = records.domain_decoder.decode(reply[1])  # type: ignore[arg-type]
    if outcome is Outcome.UNKNOWN_CODE:
        return Resolution(outcome, domain)
    link = records.link_decoder.decode(reply[2])  # type: ignore[arg-type]
    contact: ContactRecord | None = None
    if outcome is Outcome.FOUND and len(reply) > 3 and reply[3]:
        try:
            contact = records.contact_decoder.decode(reply[3])  # type: ignore[arg-type]
        except msgspec.DecodeError:
            contact = None  # an unreadable contact merges like an unknown one: defaults only
        if contact is not None and (contact.deleted or contact.org_id != link.org_id):
            contact = None
    return Resolution(outcome, domain, link, contact)
