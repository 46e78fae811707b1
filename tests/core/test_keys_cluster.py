"""The cluster layout's arithmetic: slots as Redis computes them, partitions spread evenly."""

from __future__ import annotations

from collections import Counter

import pytest

from core import keys


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        # Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        ("foo", 12182),
        ("123456789", 12739),
        ("{user1000}.following", keys.slot("user1000")),
        ("foo{}{bar}", keys.slot("foo{}{bar}")),  # an empty tag: the whole key is hashed
        ("foo{{bar}}zap", keys.slot("{bar")),  # the tag is what lies between the first { and }
    ],
)
def test_slot_follows_the_cluster_specification(key: str, expected: int) -> None:
    assert keys.slot(key) == expected


def test_an_empty_tag_hashes_the_whole_key() -> None:
    assert keys.slot("foo{}{bar}") != keys.slot("bar")


@pytest.mark.parametrize("partitions", [64, 256])
def test_partitions_spread_evenly_over_three_masters(partitions: int) -> None:
    tags = [keys.partition_tag(p, partitions) for p in range(partitions)]
    assert len(set(tags)) == partitions
    # Three masters with the slot ranges `valkey-cli --cluster create` gives them.
    owners = Counter(min(keys.slot(tag) * 3 // keys.SLOTS, 2) for tag in tags)
    even = partitions / 3
    assert all(abs(count - even) / even < 0.1 for count in owners.values()), owners


def test_one_partition_keeps_todays_stream_name() -> None:
    assert keys.click_streams(1) == [keys.CLICK_STREAM]


def test_stream_shards_are_in_their_partitions_slot() -> None:
    streams = keys.click_streams(64)
    assert len(set(streams)) == 64
    assert [keys.slot(s) for s in streams] == [
        keys.slot(keys.partition_tag(p, 64)) for p in range(64)
    ]


def test_a_partition_outside_the_range_is_refused() -> None:
    with pytest.raises(ValueError, match="partition 64"):
        keys.partition_tag(64, 64)
