"""Redis key names. Both the sync worker (writer) and the edge (reader) use these.

All keys share the ``sl:`` prefix so that a deployment can share a Redis with other apps.
Issued codes live in hash buckets named by the code's first two characters: with random
base62 codes that spreads them evenly over 3,844 buckets, which stay small enough for the
compact listpack encoding (see docs/decisions/0003-code-scheme.md).
"""

from __future__ import annotations

PREFIX = "sl:"
CLICK_STREAM = "sl:clicks"
DEAD_LETTER_STREAM = "sl:clicks:dead"
DRAIN_GROUP = "drain"
CODE_BUCKET_PREFIX_LEN = 2
SYNC_STATE = "sl:sync:state"  # hash: last full sync time, record counts
SYNC_DOMAIN_HOSTS = "sl:sync:dh"  # hash: domain id -> hostname (tombstones for deleted domains)
SYNC_REBUILD_LOCK = "sl:sync:rebuild"  # string with a TTL: one sync process rebuilds at a time


def domain(hostname: str) -> str:
    return f"sl:d:{hostname}"


def link(link_id: int | str) -> str:
    return f"sl:l:{link_id}"


def contact(contact_id: int | str) -> str:
    return f"sl:ct:{contact_id}"


def worker(role: str, worker_id: str) -> str:
    """A worker's heartbeat (a string with a TTL), e.g. ``sl:w:sync:host:1234``."""
    return f"sl:w:{role}:{worker_id}"


def code_bucket(code: str) -> str:
    return f"sl:c:{code[:CODE_BUCKET_PREFIX_LEN]}"


# Fields of the versioned hashes written by sync/publish/store.py:
#   domain  sl:d:<hostname>  v version, d msgpack DomainRecord, id domain id, s state
#   link    sl:l:<id>        v version, d msgpack LinkRecord, dom domain id, s state,
#                            e expiry (Unix ms, 0 never)
#   contact sl:ct:<id>       v version, d msgpack ContactRecord, s state
#   codes   sl:c:<first 2>   field = code, value = "<link_id>:<contact_id or empty>"
F_VERSION = "v"
F_DATA = "d"
F_DOMAIN_ID = "dom"
F_STATE = "s"  # "a" active, "x" archived or deleted (a tombstone keeps its version)
F_EXPIRES = "e"  # links: Unix ms after which the link is expired; "0" never
