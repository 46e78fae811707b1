"""The click stream shards one drain consumer reads (REDIS_PARTITIONS > 1, e.g. on a Redis
Cluster): how an entry is known in a batch, where each shard's commands go, and reading about a
batch from all of them. With one partition there is one stream and nothing here changes what
the drain sends. Why it reads this way, and the figures:
docs/decisions/0012-cluster-drain-and-failover.md.
"""

from __future__ import annotations

import logging
from typing import Any

import redis

from core import keys
from sync.connections import is_cluster

Fields = dict[bytes, bytes]
Entry = tuple[str, Fields | None]
# With shards, an entry is known in a batch by "<shard>/<entry id>" (two shards may hold the
# same id); with one stream by its id alone, as before.
SHARD_MARK = "/"
log = logging.getLogger(__name__)
SHARD_READ = 64  # entries one shard read asks for, at least (Shards.read_all)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Shards:
    def __init__(self, client: redis.Redis, consumer: str, partitions: int) -> None:
        self.client = client
        self.consumer = consumer
        self.streams = keys.click_streams(partitions)
        self.sharded = len(self.streams) > 1
        # A MULTI cannot span slots: on a cluster, acknowledgements go in plain pipelines.
        self.atomic = not is_cluster(client)
        self._wait_on = 0  # the shard an idle step blocks on, each in turn
        self._cursor = 0  # the first shard of the next step's window
        self._hot: list[int] = []  # shards that filled their share at the last step
        # Shards without the drain's group (NOGROUP: a flushed Redis, or a lane that read before
        # the group was made at start). Their error must not discard what the other shards of
        # the same read delivered: it did, and those entries waited 30 s for a reclaim.
        self.missing_group: set[int] = set()

    def ref(self, shard: int, entry_id: bytes | str) -> str:
        """How an entry of ``shard`` is known in a batch (see SHARD_MARK)."""
        return f"{shard}{SHARD_MARK}{_text(entry_id)}" if self.sharded else _text(entry_id)

    def split(self, ref: str) -> tuple[int, str]:
        if not self.sharded:
            return 0, ref
        shard, _, entry_id = ref.partition(SHARD_MARK)
        return int(shard), entry_id

    def route(self, shard: int) -> dict[str, Any]:
        """On a cluster, the master of ``shard`` as the slot map has it. Else redis-py asks the
        server which of XREADGROUP's arguments are keys (COMMAND GETKEYS: its keys move) before
        every one: two round trips per shard, a quarter of a 64-shard drain's time. A MOVED
        reply still sends the command where it belongs (and refreshes the map)."""
        if self.atomic:
            return {}
        return {"target_nodes": self.client.get_node_from_key(self.streams[shard])}  # type: ignore[attr-defined]

    def read(self, shard: int, count: int, block_ms: int | None) -> list[Entry]:
        reply: Any = self.client.xreadgroup(
            keys.DRAIN_GROUP, self.consumer, {self.streams[shard]: ">"}, count=count,
            block=block_ms,
        )  # fmt: skip
        return [(self.ref(shard, i), f) for _stream, items in reply or [] for i, f in items]

    def read_all(self, batch: int, block_ms: int | None) -> list[Entry]:
        """About ``batch`` entries from the shards, without blocking: a window of shards in
        turn (so every shard is read, however busy the others), then the shards that filled
        their share at the last step, then the others, a window per pipelined round (one round
        trip per master), until half a batch is in; then more from the shards that filled
        their share. A shard read asks for ``SHARD_READ`` entries or more: with 64 shards a
        share of 8 made four times the commands (measured: 2,300 vs 6,100 entries/s of Redis
        work). When every shard is empty, block on one (``block_ms``; None: do not), a
        different one each idle step."""
        n = len(self.streams)
        width = min(n, max(1, batch // SHARD_READ))
        start, self._cursor = self._cursor, (self._cursor + width) % n
        turn = [(start + k) % n for k in range(n)]
        queue = list(dict.fromkeys(turn[:width] + self._hot + turn[width:]))
        out: list[Entry] = []
        hot: list[int] = []
        for at in range(0, n, width):
            if len(out) >= batch // 2:
                break
            window = queue[at : at + width]
            share = max(1, (batch - len(out)) // len(window))
            for shard, items in self.read_many(dict.fromkeys(window, share)).items():
                out += items
                if len(items) == share:
                    hot.append(shard)
        room = batch - len(out)
        if hot and room >= len(hot):
            share = room // len(hot)
            more = self.read_many(dict.fromkeys(hot, share))
            out += [entry for items in more.values() for entry in items]
            hot = [shard for shard, items in more.items() if len(items) == share]
        self._hot = hot[:width]
        if out or block_ms is None:
            return out
        self._wait_on = (self._wait_on + 1) % n
        return self.read(self._wait_on, batch, block_ms)

    def read_many(self, counts: dict[int, int]) -> dict[int, list[Entry]]:
        """XREADGROUP of ``counts[shard]`` entries from each shard, pipelined."""
        pipe = self.client.pipeline(transaction=False)
        for shard, count in counts.items():
            pipe.execute_command(
                "XREADGROUP", "GROUP", keys.DRAIN_GROUP, self.consumer, "COUNT", count,
                "STREAMS", self.streams[shard], ">", **self.route(shard),
            )  # fmt: skip
        found: dict[int, list[Entry]] = {}
        failure: Exception | None = None
        for shard, reply in zip(counts, pipe.execute(raise_on_error=False), strict=True):
            found[shard] = []
            if isinstance(reply, Exception):
                if "NOGROUP" in str(reply):
                    self.missing_group.add(shard)
                else:
                    failure = failure or reply
                continue
            found[shard] = [
                (self.ref(shard, i), f) for _stream, items in reply or [] for i, f in items
            ]
        if failure is not None:
            if not any(found.values()):
                raise failure
            # The other shards' entries are delivered to us now: raising would leave them
            # pending until a reclaim (30 s). They are processed; the failing shard's error
            # comes back at a later read.
            log.warning("shard read failed, the others' entries kept: %r", failure)
        return found

    def consumers(self) -> list[list[dict[str, Any]]]:
        """Every shard's XINFO CONSUMERS of the group, in one pipeline ([] where there is no
        stream or group yet)."""
        pipe = self.client.pipeline(transaction=False)
        for shard, stream in enumerate(self.streams):
            pipe.execute_command("XINFO CONSUMERS", stream, keys.DRAIN_GROUP, **self.route(shard))
        return [
            [] if isinstance(found, Exception) else found
            for found in pipe.execute(raise_on_error=False)
        ]
