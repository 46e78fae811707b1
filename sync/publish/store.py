"""Versioned record writes to Redis: a write never replaces a newer version.

Every record lives in a small hash (see core/keys.py): ``v`` the version, ``d`` the msgpack
record, plus the few fields the edge's server-side function reads without decoding
(``id`` and ``s`` for domains, ``dom``, ``s`` and ``e`` for links). A delete or an archive writes a
tombstone (``s`` = "x") with its own, newer version, so an older write arriving late cannot
bring the record back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis

from core import keys
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
    """Writes records with version checks; each ``put_*`` may be queued on a pipeline."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._put = client.register_script(_PUT_IF_NEWER)

    def _put_record(
        self, pipe: redis.client.Pipeline | None, key: str, version: int, fields: list[Any]
    ) -> object:
        if pipe is None:
            return self._put(keys=[key], args=[version, *fields])
        # On a pipeline, queue EVALSHA directly: a full rebuild queues hundreds of thousands of
        # these, and Script.__call__'s own overhead doubled the client's time per record. The
        # pipeline still loads the script first when Redis lacks it (its ``scripts`` set).
        pipe.scripts.add(self._put)
        return pipe.execute_command("EVALSHA", self._put.sha, 1, key, version, *fields)

    def put_domain(self, rec: DomainRecord, pipe: redis.client.Pipeline | None = None) -> object:
        state = "x" if rec.deleted else "a"
        return self._put_record(
            pipe,
            keys.domain(rec.hostname),
            rec.version,
            [keys.F_DATA, encode(rec), "id", rec.id, keys.F_STATE, state],
        )

    def put_link(self, rec: LinkRecord, pipe: redis.client.Pipeline | None = None) -> object:
        state = "x" if (rec.archived or rec.deleted) else "a"
        return self._put_record(
            pipe,
            keys.link(rec.id),
            rec.version,
            [
                *(keys.F_DATA, encode(rec), keys.F_DOMAIN_ID, rec.domain_id, keys.F_STATE, state),
                # Always written: a cleared expiry must overwrite the old one in the hash.
                *(keys.F_EXPIRES, rec.expires_at_ms),
            ],
        )

    def put_contact(self, rec: ContactRecord, pipe: redis.client.Pipeline | None = None) -> object:
        state = "x" if rec.deleted else "a"
        return self._put_record(
            pipe, keys.contact(rec.id), rec.version, [keys.F_DATA, encode(rec), keys.F_STATE, state]
        )

    def put_codes(
        self,
        codes: Iterable[tuple[str, int, int | None] | tuple[str, int, int | None, str | None]],
        pipe: redis.client.Pipeline | None = None,
    ) -> int:
        """Issued codes are immutable (a code always means the same link, contact and source),
        so they need no version: HSET into their buckets, grouped to keep commands few. A row
        may carry a fourth item, the broadcast's source (core.records.code_entry)."""
        by_bucket: dict[str, dict[Any, Any]] = {}
        for code, link_id, contact_id, *source in codes:
            entry = code_entry(link_id, contact_id, (source[0] if source else None) or "")
            by_bucket.setdefault(keys.code_bucket(code), {})[code] = entry
        target = pipe if pipe is not None else self.client.pipeline(transaction=False)
        for bucket, mapping in by_bucket.items():
            target.hset(bucket, mapping=mapping)
        if pipe is None:
            target.execute()
        return sum(len(m) for m in by_bucket.values())

    def delete_codes(self, codes: Iterable[str], pipe: redis.client.Pipeline | None = None) -> int:
        """Remove codes whose rows are gone (deleted with their link or contact)."""
        by_bucket: dict[str, list[str]] = {}
        for code in codes:
            by_bucket.setdefault(keys.code_bucket(code), []).append(code)
        if not by_bucket:
            return 0
        target = pipe if pipe is not None else self.client.pipeline(transaction=False)
        for bucket, names in by_bucket.items():
            target.hdel(bucket, *names)
        if pipe is None:
            target.execute()
        return sum(len(n) for n in by_bucket.values())
