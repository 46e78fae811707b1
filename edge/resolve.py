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

On a Redis Cluster (docs/decisions/0011-cluster-layout.md) the keys are grouped into
partitions, one hash tag (one slot) each: the script runs in the partition of the code's bucket,
which also holds a copy of every domain and link record, the contact when the code was issued
in its contact's partition (every code issued since), and a click stream. An older code whose
contact lives in another partition takes a second round trip, to a second script there that
reads the contact and appends the click under the same deadline rule.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from string import Template
from typing import Any

import msgspec

from core import keys, records
from core.records import ContactRecord, DomainRecord, LinkRecord
from edge.cluster import ClusterWire
from edge.wire import ReplyError, Wire, WireError, WireLost

# Short socket timeouts: a Redis that does not answer gives a quick 503, never a hang.
SOCKET_TIMEOUT_S = 0.25
CONNECT_TIMEOUT_S = 0.25

# The script records a click only until this long after the edge sent the request (in Redis's
# clock); the edge gives up at SOCKET_TIMEOUT_S at the earliest, so a reply to a script that
# ran in time has at least this long again to reach the edge.
RECORD_BUDGET_S = SOCKET_TIMEOUT_S / 2

# Append the click only while Redis's clock is before the deadline the edge set (decision 0006).
# ARGV[$RECORD] is "1" to record, ARGV[$DEADLINE] the deadline; "recorded" says whether it did.
_APPEND = """
local recorded = 0
if ARGV[$RECORD] == '1' then
  local now = redis.call('TIME')
  if tonumber(now[1]) * 1000000 + tonumber(now[2]) <= tonumber(ARGV[$DEADLINE]) then
    redis.call('XADD', KEYS[$STREAM], '*', '$STREAM_EVENT', ARGV[$EVENT], '$STREAM_REF', $REF)
    recorded = 1
  end
end
"""


def _append(record: int, event: int, deadline: int, stream: int, ref: str) -> str:
    """_APPEND for a script whose ARGV/KEYS hold these at these positions."""
    return Template(_APPEND).substitute(
        RECORD=record,
        EVENT=event,
        DEADLINE=deadline,
        STREAM=stream,
        REF=ref,
        STREAM_EVENT=records.STREAM_EVENT,
        STREAM_REF=records.STREAM_REF,
    )


# KEYS: domain key, code bucket, click stream (all of one partition). ARGV: code, "1" to
# record, encoded ClickEvent, deadline (µs since the epoch, Redis's clock), the edge's clock
# (Unix ms: an expired link answers like an archived one, nothing recorded), and with several
# partitions a sixth, "1" (one partition sends today's five). The link and contact keys carry
# the partition's prefix, the stream's name without "clicks". Returns {outcome, domain d,
# link d, contact d, ref, recorded, source} (outcomes as in Outcome below; ref is the stream's
# "r" field; source: the broadcast's refcode a code carries after a second colon,
# core.records.code_entry), or with several partitions {CONTACT_ELSEWHERE, domain d, link d,
# ref, source} when the contact is not in this partition (nothing recorded: the second
# script does it, in the contact's own partition, which the edge computes). The contact is not
# read for a link whose destination merges nothing of it (the link's "m" is "0": one call of
# six fewer, and no contact in the reply), except with several partitions, where reading it is
# how the script learns that the contact (and so its clicks' stream) is elsewhere.
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
local prefix = string.sub(KEYS[3], 1, -$STREAM_NAME_LEN)
local link = redis.call('HMGET', prefix .. '$LINK' .. link_id, '$F_DATA', '$F_DOMAIN_ID', '$F_STATE', '$F_EXPIRES', '$F_MERGES')
if not link[1] or link[2] ~= dom[2] then return {1, dom[1]} end
if link[3] == 'x' then return {2, dom[1], link[1]} end
local expires = tonumber(link[4] or '0') or 0
if expires > 0 and expires <= tonumber(ARGV[5]) then return {2, dom[1], link[1]} end
local ref = link_id .. ':' .. contact_id .. ':' .. dom[2]
local contact = false
if contact_id ~= '' and (link[5] ~= '0' or ARGV[6]) then
  contact = redis.call('HGET', prefix .. '$CONTACT' .. contact_id, '$F_DATA')
  if not contact and ARGV[6] then return {4, dom[1], link[1], ref, source} end
end
$APPEND
return {3, dom[1], link[1], contact, ref, recorded, source}
""").substitute(
    F_DATA=keys.F_DATA,
    F_STATE=keys.F_STATE,
    F_EXPIRES=keys.F_EXPIRES,
    F_DOMAIN_ID=keys.F_DOMAIN_ID,
    F_MERGES=keys.F_MERGES,
    STREAM_NAME_LEN=len(keys.CLICK_STREAM) - len(keys.PREFIX) + 1,
    LINK=keys.LINK + ":",
    CONTACT=keys.CONTACT + ":",
    APPEND=_append(record=2, event=3, deadline=4, stream=3, ref="ref"),
)

# The second round trip for a code issued before its contact's partition was chosen: KEYS the
# contact, the click stream of its partition; ARGV "1" to record, the event, the deadline, the
# ref. Returns {contact d, recorded}.
_CONTACT_SCRIPT = Template("""
local contact = redis.call('HGET', KEYS[1], '$F_DATA')
$APPEND
return {contact, recorded}
""").substitute(
    F_DATA=keys.F_DATA,
    APPEND=_append(record=1, event=2, deadline=3, stream=2, ref="ARGV[4]"),
)
_CONTACT_ELSEWHERE = 4
# Valkey's answer to a script that reads a key of a slot being moved (a reshard) which has
# already gone to the importing master: the script's undeclared keys (the link's copy, the
# contact) are not checked with its declared ones, so it fails when it reaches them.
_SPLIT_SLOT = "non local key"


@dataclass(frozen=True, slots=True)
class Partition:
    """One partition's key prefixes and slot, computed once (not per request)."""

    domain: str
    bucket: str
    stream: str
    slot: int
    extra: tuple[bytes | str, ...]  # the script's last arguments: none with one partition
    link: str  # the link copies' prefix
    nobody: str  # a contact key of this partition that no contact has (a generic code's)

    @classmethod
    def of(cls, partition: int, partitions: int) -> Partition:
        prefix = keys.partition_prefix(partition, partitions)
        return cls(
            keys.domain("", partition, partitions),
            f"{prefix}{keys.BUCKET}:",
            keys.click_stream(partition, partitions),
            keys.slot(keys.click_stream(partition, partitions)),
            () if partitions == 1 else (b"1",),
            keys.link("", partition, partitions),
            f"{prefix}{keys.CONTACT}:",
        )


class Outcome(IntEnum):
    UNKNOWN_HOST = 0  # no domain record, or its tombstone
    UNKNOWN_CODE = 1  # no such code on this domain (or its link belongs to another domain)
    ARCHIVED = 2  # the link is archived, deleted or expired: nothing recorded
    FOUND = 3  # link (and contact, for a contact's code) found; the click is appended if asked


class Resolution(msgspec.Struct, frozen=True, gc=False):
    """What Redis (or the memory) answered. A msgspec Struct, not a frozen dataclass: one is
    made per request, and a frozen dataclass's __init__ (a setattr call per field) cost ~2 µs
    of it. Untracked by the collector (gc=False): it holds records and bytes, never itself."""

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
    """Redis did not answer in time (or refused): the edge answers 503 with Retry-After.
    ``slot``: the slot whose server failed, when known (edge/outage.py stops asking that
    server, not the others)."""

    def __init__(self, message: str, slot: int | None = None) -> None:
        super().__init__(message)
        self.slot = slot


def connect(url: str, cluster: bool = False) -> Wire | ClusterWire:
    """The edge's Redis connection (edge/wire.py: one pipelined connection per worker; on a
    cluster, edge/cluster.py: one per master)."""
    if cluster:
        return ClusterWire(url, timeout=SOCKET_TIMEOUT_S, connect_timeout=CONNECT_TIMEOUT_S)
    return Wire(url, timeout=SOCKET_TIMEOUT_S, connect_timeout=CONNECT_TIMEOUT_S)


class Resolver:
    """``partitions`` is REDIS_PARTITIONS (1: today's key names, one Redis)."""

    def __init__(self, wire: Wire | ClusterWire, partitions: int = 1) -> None:
        self.wire = wire
        self.sha = _sha(_SCRIPT)
        self.contact_sha = _sha(_CONTACT_SCRIPT)
        self.decode = ReplyDecoder()
        self.partitions = partitions
        self.parts = [Partition.of(p, partitions) for p in range(partitions)]
        # bucket prefix -> partition, for every 2-character prefix of a code: one dict lookup
        self._by_prefix = {
            prefix: self.parts[keys.code_partition(prefix, partitions)]
            for prefix in keys.bucket_prefixes(0, 1)
        }
        self._next = 0  # the partition of the next extra stream entry (round robin)
        # Whether the server of a slot is known to be down (edge/outage.py sets it): the second
        # trip then fails at once instead of waiting out the wire's timeout.
        self.unavailable: Callable[[int], bool] = _never
        self.second_trips = 0  # requests that needed the contact's partition too

    async def load(self) -> None:
        """Load the scripts ahead of the first request (best effort: Redis may be down)."""
        with contextlib.suppress(WireError, ReplyError):
            await self.wire.call_all("SCRIPT", "LOAD", _SCRIPT)
            await self.wire.call_all("SCRIPT", "LOAD", _CONTACT_SCRIPT)

    async def _call(self, slot: int, *args: bytes | str | int) -> object:
        """One command; one retry when the connection was lost (a restarted Redis), none after
        a timeout. A retried XADD could append a click twice: drain dedupes on click_id."""
        try:
            return await self.wire.call_at(slot, *args)
        except WireLost:
            return await self.wire.call_at(slot, *args)
        except ReplyError as exc:  # on a cluster: a slot that moved (MOVED, ASK, TRYAGAIN)
            return await self.wire.follow(slot, exc, args)

    async def _eval(self, slot: int, sha: str, script: str, *args: bytes | str | int) -> object:
        """EVALSHA of ``script``; raises RedisUnavailable."""
        try:
            try:
                return await self._call(slot, "EVALSHA", sha, *args)
            except ReplyError as exc:
                return await self._load_and_eval(slot, exc, script, sha, args)
        except (WireError, ReplyError) as exc:
            raise RedisUnavailable(str(exc), slot) from exc

    async def _load_and_eval(
        self, slot: int, error: ReplyError, script: str, sha: str, args: tuple[object, ...]
    ) -> object:
        """After NOSCRIPT (a restarted node, SCRIPT FLUSH, a slot that moved to a node that
        lacks it) load the script there and run it again, once; any other error stands."""
        if not str(error).startswith("NOSCRIPT"):
            raise error
        await self._call(slot, "SCRIPT", "LOAD", script)
        return await self._call(slot, "EVALSHA", sha, *args)  # type: ignore[arg-type]

    def partition(self, code: str) -> Partition:
        if self.partitions == 1:
            return self.parts[0]
        part = self._by_prefix.get(code[: keys.CODE_BUCKET_PREFIX_LEN])
        if part is None:  # a one-character code
            return self.parts[keys.code_partition(code, self.partitions)]
        return part

    async def resolve(self, hostname: str, code: str, event: bytes | None) -> Resolution:
        """The records for ``hostname``/``code``; ``event`` (an encoded ClickEvent) is appended
        to the click stream when the link is live. Raises RedisUnavailable."""
        part = self.partition(code)
        now_ns = time.time_ns()  # one clock read for the deadline (µs) and the expiry (ms)
        args = (
            3,
            part.domain + hostname,
            part.bucket + code[: keys.CODE_BUCKET_PREFIX_LEN],
            part.stream,
            code,
            b"1" if event is not None else b"0",
            event or b"",
            now_ns // 1000 + self.wire.offset_at(part.slot) + _RECORD_BUDGET_US,
            now_ns // 1_000_000,
            *part.extra,
        )
        # _eval's work inline, and its slow paths apart: no coroutine frame between the
        # request and the wire's reply future on the hot path
        try:
            reply = await self.wire.call_at(part.slot, "EVALSHA", self.sha, *args)
        except (WireError, ReplyError) as exc:
            reply = await self._recover(part, exc, args, event)
        if reply[0] == _CONTACT_ELSEWHERE:  # type: ignore[index]
            reply = await self._contact_elsewhere(reply, event)  # type: ignore[arg-type]
        return self.decode(reply)  # type: ignore[arg-type]

    async def _recover(
        self,
        part: Partition,
        error: WireError | ReplyError,
        args: tuple[bytes | str | int, ...],
        event: bytes | None,
    ) -> object:
        """The script's call failed: go on as _eval does (one retry after a lost connection,
        a cluster redirect followed, the script loaded after NOSCRIPT), or key by key while
        its slot is split between two masters; raises RedisUnavailable."""
        slot, full = part.slot, ("EVALSHA", self.sha, *args)
        try:
            try:
                if isinstance(error, WireLost):
                    return await self.wire.call_at(slot, *full)
                if isinstance(error, ReplyError):
                    if _SPLIT_SLOT in str(error):
                        return await self._key_by_key(part, args, event)
                    return await self.wire.follow(slot, error, full)
                raise error
            except ReplyError as exc:
                if _SPLIT_SLOT in str(exc):
                    return await self._key_by_key(part, args, event)
                return await self._load_and_eval(slot, exc, _SCRIPT, self.sha, args)
        except (WireError, ReplyError) as exc:
            raise RedisUnavailable(str(exc), slot) from exc

    async def _key_by_key(
        self, part: Partition, args: tuple[bytes | str | int, ...], event: bytes | None
    ) -> list[object]:
        """What the script does, one single-key command at a time (each follows ASK to the
        master that holds its key now), for a request whose slot a reshard has half moved;
        then the contact and the click as for an older code, in the second script, whose keys
        are declared. Rare (a slot's keys move in batches of 100 in a second or so), so it
        may cost four round trips. The tests: tests/edge/test_cluster_edge.py."""
        domain_key, bucket_key, code, now_ms = args[1], args[2], args[4], args[8]
        dom: Any = await self._call(part.slot, "HMGET", domain_key, keys.F_DATA, "id", keys.F_STATE)
        if not dom[0] or dom[2] == b"x":
            return [Outcome.UNKNOWN_HOST]
        entry: Any = await self._call(part.slot, "HGET", bucket_key, code)
        if not entry or b":" not in entry:
            return [Outcome.UNKNOWN_CODE, dom[0]]
        link_id, contact_id, source = records.parse_code_entry(entry.decode())
        link: Any = await self._call(
            part.slot, "HMGET", part.link + str(link_id),
            keys.F_DATA, keys.F_DOMAIN_ID, keys.F_STATE, keys.F_EXPIRES,
        )  # fmt: skip
        if not link[0] or link[1] != dom[1]:
            return [Outcome.UNKNOWN_CODE, dom[0]]
        if link[2] == b"x" or 0 < int(link[3] or 0) <= int(now_ms):
            return [Outcome.ARCHIVED, dom[0], link[0]]
        ref = f"{link_id}:{'' if contact_id is None else contact_id}:{dom[1].decode()}".encode()
        return await self._contact_elsewhere(
            [0, dom[0], link[0], ref, source.encode()], event, part
        )

    async def _contact_elsewhere(
        self, reply: list[object], event: bytes | None, part: Partition | None = None
    ) -> list[object]:
        """The second round trip: the contact and the click in the contact's partition (a
        generic code's click in ``part``, the code's own)."""
        self.second_trips += 1
        ref: bytes = reply[3]  # type: ignore[assignment]
        contact_id = ref.split(b":")[1].decode()
        # The contact's own partition. That is the code's own when the contact's record is just
        # missing (not yet published): the second script finds nothing and records the click.
        if not contact_id and part is not None:
            home, contact_key = part, part.nobody
        else:
            home = self.parts[keys.contact_partition(contact_id, self.partitions)]
            contact_key = keys.contact(contact_id, self.partitions)
        if self.unavailable(home.slot):
            raise RedisUnavailable(f"the server of slot {home.slot} is down", home.slot)
        deadline_us = time.time_ns() // 1000 + self.wire.offset_at(home.slot) + _RECORD_BUDGET_US
        second: list[object] = await self._eval(  # type: ignore[assignment]
            home.slot,
            self.contact_sha,
            _CONTACT_SCRIPT,
            2,
            contact_key,
            home.stream,
            b"1" if event is not None else b"0",
            event or b"",
            deadline_us,
            ref,
        )
        source = reply[4] if len(reply) > 4 else b""
        return [Outcome.FOUND, reply[1], reply[2], second[0], ref, second[1], source]

    async def append(self, fields: Mapping[str, bytes]) -> None:
        """A rare extra stream entry (an amendment, a spooled click), to the partitions' streams
        in turn; errors are the caller's to log."""
        part = self.parts[self._next]
        self._next = (self._next + 1) % self.partitions
        flat = [item for pair in fields.items() for item in pair]
        try:
            await self._call(part.slot, "XADD", part.stream, "*", *flat)
        except (WireError, ReplyError) as exc:
            raise RedisUnavailable(str(exc)) from exc

    async def domain_state(self, hostname: str) -> object:
        """The domain record's state field (edge/tls.py), from one partition's copy."""
        part = self.partition(hostname)
        return await self._call(part.slot, "HGET", part.domain + hostname, keys.F_STATE)

    async def ping(self) -> bool:
        try:
            return all(reply == b"PONG" for reply in await self.wire.call_all("PING"))
        except (WireError, ReplyError):
            return False

    def close(self) -> None:
        self.wire.close()


def _never(slot: int) -> bool:
    return False


def _sha(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()  # noqa: S324 (Redis's script id)


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
