"""Redis key names. Both the sync worker (writer) and the edge (reader) use these.

All keys share the ``sl:`` prefix so that a deployment can share a Redis with other apps.
Issued codes live in hash buckets named by the code's first two characters: with random
base62 codes that spreads them evenly over 3,844 buckets, which stay small enough for the
compact listpack encoding (see docs/decisions/0003-code-scheme.md).
"""

from __future__ import annotations

import binascii
import functools

from core.codes import ALPHABET

PREFIX = "sl:"
CLICK_STREAM = "sl:clicks"
DEAD_LETTER_STREAM = "sl:clicks:dead"
DRAIN_GROUP = "drain"
CODE_BUCKET_PREFIX_LEN = 2
# The kinds of record key, after the partition's prefix: sl:d:<host>, sl:{p3}:l:<id>, ...
DOMAIN, LINK, CONTACT, BUCKET = "d", "l", "ct", "c"
SYNC_STATE = "sl:sync:state"  # hash: last full sync time, record counts
SYNC_DOMAIN_HOSTS = "sl:sync:dh"  # hash: domain id -> hostname (tombstones for deleted domains)
SYNC_REBUILD_LOCK = "sl:sync:rebuild"  # string with a TTL: one sync process rebuilds at a time


def domain(hostname: str, partition: int = 0, partitions: int = 1) -> str:
    """The domain's record; with several partitions, its copy in ``partition``."""
    return f"{partition_prefix(partition, partitions)}{DOMAIN}:{hostname}"


def link(link_id: int | str, partition: int = 0, partitions: int = 1) -> str:
    """The link's record; with several partitions, its copy in ``partition``."""
    return f"{partition_prefix(partition, partitions)}{LINK}:{link_id}"


def contact(contact_id: int | str, partitions: int = 1) -> str:
    """The contact's record, in its own partition (contact_partition)."""
    prefix = partition_prefix(contact_partition(contact_id, partitions), partitions)
    return f"{prefix}{CONTACT}:{contact_id}"


def worker(role: str, worker_id: str) -> str:
    """A worker's heartbeat (a string with a TTL), e.g. ``sl:w:sync:host:1234``."""
    return f"sl:w:{role}:{worker_id}"


def code_bucket(code: str, partitions: int = 1) -> str:
    """The code's bucket, in the partition of its prefix (code_partition)."""
    prefix = partition_prefix(code_partition(code, partitions), partitions)
    return f"{prefix}{BUCKET}:{code[:CODE_BUCKET_PREFIX_LEN]}"


# Fields of the versioned hashes written by sync/publish/store.py:
#   domain  sl:d:<hostname>  v version, d msgpack DomainRecord, id domain id, s state
#   link    sl:l:<id>        v version, d msgpack LinkRecord, dom domain id, s state,
#                            e expiry (Unix ms, 0 never), m "0" when the destination merges
#                            nothing of the contact (the edge's script then skips its read)
#   contact sl:ct:<id>       v version, d msgpack ContactRecord, s state
#   codes   sl:c:<first 2>   field = code, value = "<link_id>:<contact_id or empty>"
F_VERSION = "v"
F_DATA = "d"
F_DOMAIN_ID = "dom"
F_STATE = "s"  # "a" active, "x" archived or deleted (a tombstone keeps its version)
F_EXPIRES = "e"  # links: Unix ms after which the link is expired; "0" never
F_MERGES = "m"  # links: "1" the destination merges contact fields, "0" not (absent: read as "1")


# Redis Cluster layout (docs/decisions/0011-cluster-layout.md). Keys are grouped into
# ``partitions``; every key of one partition carries the same hash tag, so one partition is
# one slot and a script may touch any of its keys. With one partition (a single Redis, the
# default) the names are exactly the ones above: nothing moves and nothing costs more.
SLOTS = 16384


def slot(key: str | bytes) -> int:
    """The cluster slot of ``key``: CRC16 (XMODEM, which is binascii's crc_hqx) of the hash
    tag if the key has a non-empty one, else of the whole key, modulo 16,384."""
    raw = key.encode() if isinstance(key, str) else key
    start = raw.find(b"{")
    if start != -1:
        end = raw.find(b"}", start + 1)
        if end > start + 1:
            raw = raw[start + 1 : end]
    return binascii.crc_hqx(raw, 0) % SLOTS


@functools.cache
def partition_tag(partition: int, partitions: int) -> str:
    """The hash tag of ``partition``: the shortest ``p<n>`` spelling (n counting up from the
    partition number in steps of ``partitions``) whose slot lies in the partition's own
    1/``partitions`` of the slot space, so that partitions spread evenly over any even
    division of slots between masters (64 partitions on 3 masters: 22, 21, 21)."""
    if not 0 <= partition < partitions:
        raise ValueError(f"partition {partition} is not in 0..{partitions - 1}")
    low = partition * SLOTS // partitions
    high = (partition + 1) * SLOTS // partitions
    n = partition
    while True:
        tag = f"p{n}"
        if low <= slot(tag) < high:
            return tag
        n += partitions


def click_stream(partition: int, partitions: int) -> str:
    """The click stream shard of ``partition``; the one stream of today with one partition."""
    if partitions == 1:
        return CLICK_STREAM
    return f"sl:{{{partition_tag(partition, partitions)}}}:clicks"


def click_streams(partitions: int) -> list[str]:
    """Every click stream shard, in partition order: what the drain reads."""
    return [click_stream(p, partitions) for p in range(partitions)]


# What the edge, sync and admin agree on to put one request's keys in one partition
# (docs/decisions/0011-cluster-layout.md): a code's bucket lives in the partition of its
# bucket prefix, a contact in the partition of its id, and the domain and link records have a
# copy in every partition. New codes get a prefix of their contact's partition.
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
BUCKETS = len(ALPHABET) ** CODE_BUCKET_PREFIX_LEN  # 3,844 bucket prefixes


def bucket_index(prefix: str) -> int:
    """The bucket prefix as a base62 number (``"00"`` is 0, ``"zz"`` is 3,843)."""
    index = 0
    for char in prefix[:CODE_BUCKET_PREFIX_LEN]:
        index = index * len(ALPHABET) + _INDEX.get(char, ord(char))
    return index


def code_partition(code: str, partitions: int) -> int:
    return bucket_index(code[:CODE_BUCKET_PREFIX_LEN]) % partitions


def contact_partition(contact_id: int | str, partitions: int) -> int:
    """The id modulo the partitions: the edge's script computes the same in Lua."""
    return int(contact_id) % partitions


def bucket_prefixes(partition: int, partitions: int) -> list[str]:
    """The bucket prefixes of ``partition``: a new code for a contact of this partition
    starts with one of them."""
    return [
        a + b for a in ALPHABET for b in ALPHABET if bucket_index(a + b) % partitions == partition
    ]


@functools.cache
def partition_prefix(partition: int, partitions: int) -> str:
    """What every key of ``partition`` starts with: ``sl:`` with one partition (today's
    names), ``sl:{<tag>}:`` with several."""
    if partitions == 1:
        return PREFIX
    return f"{PREFIX}{{{partition_tag(partition, partitions)}}}:"


def pattern(kind: str, partitions: int) -> str:
    """A SCAN pattern for the records of ``kind`` (DOMAIN, LINK, ...) of every partition."""
    return f"{PREFIX}{kind}:*" if partitions == 1 else f"{PREFIX}{{p*}}:{kind}:*"


def record_name(key: str, kind: str) -> str:
    """The hostname, id or bucket prefix a key of ``kind`` names, whatever its partition."""
    return key.partition(f":{kind}:")[2]
