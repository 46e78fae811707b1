"""The click streams of a drain test (tests/sync/clicks/conftest.py's ``streams``): one stream on
a single Redis, or shards on a cluster; appends spread over the shards as the edge's do, and the
counts the tests assert summed over every shard."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis

from core import keys
from sync.clicks.drain import Drain
from tests.sync.clicks.helpers import settings


@dataclass
class Streams:
    """Where the edge appends clicks and the drain reads them, with the counts tests assert."""

    client: redis.Redis
    partitions: int
    database_url: str
    made: list[Drain] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return keys.click_streams(self.partitions)

    def xadd_all(self, entries: list[dict[str, bytes]]) -> list[str]:
        """Entry i goes to shard i % partitions (the edge spreads clicks over partitions)."""
        pipe = self.client.pipeline(transaction=False)
        for n, fields in enumerate(entries):
            pipe.xadd(self.names[n % self.partitions], fields)  # type: ignore[arg-type]
        return [i.decode() for i in pipe.execute()]

    def pending(self) -> int:
        return sum(int(self.client.xpending(s, keys.DRAIN_GROUP)["pending"]) for s in self.names)

    def held_by(self, consumer: str) -> int:
        return sum(
            len(self.client.xpending_range(s, keys.DRAIN_GROUP, "-", "+", 10_000, consumer))
            for s in self.names
        )

    def length(self) -> int:
        return sum(int(self.client.xlen(s)) for s in self.names)

    def read_as(self, consumer: str, count: int) -> int:
        """Read ``count`` entries of each shard as ``consumer`` (and never acknowledge them)."""
        got = 0
        for stream in self.names:
            reply: Any = self.client.xreadgroup(keys.DRAIN_GROUP, consumer, {stream: ">"},
                                                count=count)  # fmt: skip
            got += sum(len(items) for _s, items in reply or [])
        return got

    def flush(self) -> None:
        """Everything gone, as after a Redis restarted empty (every master's)."""
        from redis.cluster import RedisCluster

        if isinstance(self.client, RedisCluster):
            self.client.flushall(target_nodes=RedisCluster.PRIMARIES)
        else:
            self.client.flushall()

    def dead(self) -> list[tuple[bytes, dict[bytes, bytes]]]:
        return list(self.client.xrange(keys.DEAD_LETTER_STREAM))  # type: ignore[arg-type]

    def drain(self, consumer: str = "test-consumer", **overrides: Any) -> Drain:
        made = Drain(self.client, self.database_url, consumer,
                     settings(partitions=self.partitions, **overrides))  # fmt: skip
        made.ensure_group()
        self.made.append(made)
        return made
