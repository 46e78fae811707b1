"""Which drain consumers are provably gone, and claiming their entries a batch at a time.

A restarted drain is a new consumer (``host:pid``); before issue 12 it could claim what its
killed predecessor held only once those entries were idle for DRAIN_CLAIM_IDLE_MS (30 s).
sync/liveness.py says when a consumer's process is provably gone; ``Drain.take_over`` (each
lane, at its first step and every second) claims and records its entries at once. The
click-id dedupe and XACK after commit keep this exactly once, even if a consumer were
wrongly judged gone (its batch would then be recorded twice and counted once).

With click stream shards (REDIS_PARTITIONS > 1) every shard has its own group and consumers:
the drain asks about each shard in turn.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import redis

from core import keys
from sync import liveness

# A gone consumer's entry another lane claimed this recently is skipped (XCLAIM's min idle).
MIN_IDLE_MS = 100


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def gone_consumers(
    client: redis.Redis, consumer: str, stream: str = keys.CLICK_STREAM
) -> Iterator[str]:
    """Consumers of ``stream``'s group that hold entries and whose worker is provably gone
    (never one of ``consumer``'s own process: a lane is ``<worker id>/<n>``)."""
    try:
        consumers: Any = client.xinfo_consumers(stream, keys.DRAIN_GROUP)
    except redis.ResponseError:
        return  # no stream or group yet
    yield from gone_among(client, consumer, consumers, {})


def gone_among(
    client: redis.Redis, consumer: str, consumers: list[dict[str, Any]], verdicts: dict[str, bool]
) -> Iterator[str]:
    """Those of ``consumers`` (XINFO CONSUMERS of a stream) that hold entries and whose
    worker is provably gone; ``verdicts`` keeps each worker's, for the other shards."""
    ours = consumer.split("/")[0]
    for c in consumers:
        name = _text(c["name"])
        worker_id = name.split("/")[0]
        if not c["pending"] or worker_id == ours:
            continue
        if worker_id not in verdicts:
            verdicts[worker_id] = liveness.worker_gone(client, "drain", worker_id, int(c["idle"]))
        if verdicts[worker_id]:
            yield name


def claim_batch(
    client: redis.Redis, stream: str, gone: str, consumer: str, batch: int
) -> list[tuple[str, dict[bytes, bytes] | None]]:
    """Up to ``batch`` of ``gone``'s entries of ``stream``, now ``consumer``'s; pages past
    what another lane claimed a moment ago."""
    start = "-"
    while True:
        held: Any = client.xpending_range(stream, keys.DRAIN_GROUP, start, "+", batch, gone)
        if not held:
            return []
        claimed: Any = client.xclaim(
            stream, keys.DRAIN_GROUP, consumer, MIN_IDLE_MS,
            [p["message_id"] for p in held],
        )  # fmt: skip
        if claimed:
            return [(_text(i), f) for i, f in claimed]
        start = "(" + _text(held[-1]["message_id"])
