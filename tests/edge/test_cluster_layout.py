"""The key layout the edge, sync and admin agree on (docs/decisions/0011-cluster-layout.md):
today's names with one partition, and one slot for every key one request reads with many."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from admin.services.codes import codes_for
from core import keys
from core.codes import CODE_LENGTH, issuable
from edge.resolve import Resolver
from edge.wire import Wire


def test_one_partition_keeps_todays_names_byte_for_byte():
    assert keys.domain("go.example.org") == "sl:d:go.example.org"
    assert keys.link(10) == "sl:l:10"
    assert keys.contact(100) == "sl:ct:100"
    assert keys.code_bucket("Ab3dEf7") == "sl:c:Ab"
    assert keys.click_stream(0, 1) == "sl:clicks"
    assert keys.pattern(keys.BUCKET, 1) == "sl:c:*"
    resolver = Resolver(Wire("redis://127.0.0.1:1/0", 1, 1))
    [part] = resolver.parts
    assert (part.domain, part.bucket, part.stream, part.extra) == ("sl:d:", "sl:c:", "sl:clicks", ())


@pytest.mark.parametrize("partitions", [16, 64])
def test_a_code_issued_now_puts_a_requests_keys_in_one_slot(partitions: int):
    rng = random.Random(partitions)
    contact_ids = [rng.randrange(1, 10**9) for _ in range(500)]
    codes = codes_for(contact_ids, partitions)
    assert len(set(codes)) == len(codes)
    assert all(issuable(c) and len(c) == CODE_LENGTH for c in codes)
    for code, contact_id in zip(codes, contact_ids, strict=True):
        p = keys.code_partition(code, partitions)
        assert p == keys.contact_partition(contact_id, partitions)
        request = {
            keys.domain("go.example.org", p, partitions),
            keys.code_bucket(code, partitions),
            keys.link(10, p, partitions),
            keys.contact(contact_id, partitions),
            keys.click_stream(p, partitions),
        }
        assert len({keys.slot(k) for k in request}) == 1, request


@pytest.mark.parametrize("partitions", [1, 64])
def test_a_stream_is_named_by_its_partitions_prefix(partitions: int):
    # the edge's script finds the link and contact keys' prefix in the stream's name
    for p in range(partitions):
        assert keys.click_stream(p, partitions) == keys.partition_prefix(p, partitions) + "clicks"


def test_bucket_prefixes_divide_the_buckets_evenly():
    owners = Counter()
    for p in range(64):
        for prefix in keys.bucket_prefixes(p, 64):
            owners[prefix] += 1
            assert keys.code_partition(prefix + "xxxxx", 64) == p
    assert len(owners) == keys.BUCKETS and set(owners.values()) == {1}
    sizes = {len(keys.bucket_prefixes(p, 64)) for p in range(64)}
    assert sizes == {60, 61}


def test_record_names_and_patterns_of_every_partition():
    key = keys.domain("go.example.org", 5, 64)
    assert key.startswith("sl:{") and keys.record_name(key, keys.DOMAIN) == "go.example.org"
    assert keys.record_name(keys.contact(123, 64), keys.CONTACT) == "123"
    assert keys.record_name(keys.code_bucket("Ab3dEf7", 64), keys.BUCKET) == "Ab"
    assert keys.pattern(keys.LINK, 64) == "sl:{p*}:l:*"


def test_resolver_maps_every_prefix_to_its_partition():
    resolver = Resolver(Wire("redis://127.0.0.1:1/0", 1, 1), 64)
    for code in ("Ab3dEf7", "zz00000", "0", "Z"):
        assert resolver.partition(code) is resolver.parts[keys.code_partition(code, 64)]
