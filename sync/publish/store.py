"""Versioned record writes to Redis: a write never replaces a newer version.

Every record lives in a small hash (see core/keys.py): ``v`` the version, ``d`` the msgpack
record, plus the few fields the edge's server-side function reads without decoding (``id``
and ``s`` for domains, ``dom``, ``s``, ``e`` and ``m`` for links). A delete or an archive
writes a tombstone (``s`` = "x") with its own, newer version, so an older write arriving late
cannot bring the record back.

With several partitions (a Redis Cluster, docs/decisions/0011-cluster-layout.md) a domain or
link record is written to its copy in EVERY partition, with the same version, so that the edge
reads it in whatever slot a request runs in; a contact and a code bucket live in one partition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import redis

from core import keys
from core.merge import merges_contact
from core.records import ContactRecord, DomainRecord, LinkRecord, code_entry, encode

# KEYS[1] record key; ARGV[1] version; ARGV[2..] field/value pairs (including "d").
_PUT_IF_NEWER = """
local current = redis.call('HGET', KEYS[1], 'v')
if current and tonumber(current) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], unpack(ARGV, 2))
return 1
"""


class RecordStore:
    """Writes records with version checks; each ``put_*`` may be queued on a pipeline.

    ``client`` is a redis.Redis or a redis.RedisCluster; ``partitions`` is REDIS_PARTITIONS."""

    def __init__(self, client: redis.Redis | redis.RedisCluster, partitions: int = 1) -> None:
        self.client = client
        self.partitions = partitions
        self._put = client.register_script(_PUT_IF_NEWER)
        # A code's bucket key by its 2-character prefix (3,844 of them), worked out once: a
        # broadcast publishes 1 M codes, and keys.code_bucket costs microseconds per call.
        self._buckets: dict[str, str] = {}

    def _bucket(self, code: str) -> str:
        prefix = code[: keys.CODE_BUCKET_PREFIX_LEN]
        found = self._buckets.get(prefix)
        if found is None:
            found = self._buckets[prefix] = keys.code_bucket(code, self.partitions)
        return found

    def _put_record(self, pipe: Any, key: str, version: int, fields: list[Any]) -> object:
        if pipe is None:
            return self._put(keys=[key], args=[version, *fields])
        if isinstance(pipe, redis.client.Pipeline):
            # On a pipeline, queue EVALSHA directly: a full rebuild queues hundreds of thousands
            # of these, and Script.__call__'s own overhead doubled the client's time per record.
            # The pipeline still loads the script first when Redis lacks it (``scripts``).
            pipe.scripts.add(self._put)
            return pipe.execute_command("EVALSHA", self._put.sha, 1, key, version, *fields)
        # redis-py's cluster pipeline cannot load scripts on the nodes it sends to: EVAL sends
        # the text (Valkey compiles it once and keeps it by its hash).
        return pipe.execute_command("EVAL", _PUT_IF_NEWER, 1, key, version, *fields)

    def _put_copies(
        self, pipe: Any, key: Callable[[int], str], version: int, fields: list[Any]
    ) -> object:
        """A domain or link record into every partition's copy (one pipeline for them all
        when the caller gives none: redis-py sends one batch per node)."""
        if self.partitions == 1:
            return self._put_record(pipe, key(0), version, fields)
        target = pipe if pipe is not None else self.client.pipeline(transaction=False)
        for p in range(self.partitions):
            self._put_record(target, key(p), version, fields)
        if pipe is None:
            return int(any(target.execute()))
        return target

    def put_domain(self, rec: DomainRecord, pipe: Any = None) -> object:
        state = "x" if rec.deleted else "a"
        return self._put_copies(
            pipe,
            lambda p: keys.domain(rec.hostname, p, self.partitions),
            rec.version,
            [keys.F_DATA, encode(rec), "id", rec.id, keys.F_STATE, state],
        )

    def put_link(self, rec: LinkRecord, pipe: Any = None) -> object:
        state = "x" if (rec.archived or rec.deleted) else "a"
        return self._put_copies(
            pipe,
            lambda p: keys.link(rec.id, p, self.partitions),
            rec.version,
            [
                *(keys.F_DATA, encode(rec), keys.F_DOMAIN_ID, rec.domain_id, keys.F_STATE, state),
                # Always written: a cleared expiry must overwrite the old one in the hash.
                *(keys.F_EXPIRES, rec.expires_at_ms),
                # Whether the edge's script reads the contact (with the record, in one HSET:
                # the two never disagree).
                *(keys.F_MERGES, int(merges_contact(rec.destination))),
            ],
        )

    def put_contact(self, rec: ContactRecord, pipe: Any = None) -> object:
        state = "x" if rec.deleted else "a"
        return self._put_record(
            pipe,
            keys.contact(rec.id, self.partitions),
            rec.version,
            [keys.F_DATA, encode(rec), keys.F_STATE, state],
        )

    def put_codes(
        self,
        codes: Iterable[tuple[str, int, int | None] | tuple[str, int, int | None, str | None]],
        pipe: Any = None,
    ) -> int:
        """Issued codes are immutable (a code always means the same link, contact and source),
        so they need no version: HSET into their buckets, grouped to keep commands few. A row
        may carry a fourth item, the broadcast's source (core.records.code_entry)."""
        by_bucket: dict[str, dict[Any, Any]] = {}
        bucket_of = self._bucket
        for code, link_id, contact_id, *source in codes:
            entry = code_entry(link_id, contact_id, (source[0] if source else None) or "")
            by_bucket.setdefault(bucket_of(code), {})[code] = entry
        target = pipe if pipe is not None else self.client.pipeline(transaction=False)
        for bucket, mapping in by_bucket.items():
            target.hset(bucket, mapping=mapping)
        if pipe is None:
            target.execute()
        return sum(len(m) for m in by_bucket.values())

    def delete_codes(self, codes: Iterable[str], pipe: Any = None) -> int:
        """Remove codes whose rows are gone (deleted with their link or contact)."""
        by_bucket: dict[str, list[str]] = {}
        for code in codes:
            by_bucket.setdefault(self._bucket(code), []).append(code)
        if not by_bucket:
            return 0
        target = pipe if pipe is not None else self.client.pipeline(transaction=False)
        for bucket, names in by_bucket.items():
            target.hdel(bucket, *names)
        if pipe is None:
            target.execute()
        return sum(len(n) for n in by_bucket.values())
