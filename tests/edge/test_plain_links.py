"""A link whose destination merges nothing of the contact: the edge's script does not read the
contact's record (one Redis call of six fewer, no contact in the reply), and the redirect and
the click are what they were (sync/publish/store.py writes the link's ``m`` with its record)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import redis

from core import keys
from tests.edge.conftest import Edge, World

PLAIN = "https://example.org/donate?src={{source|sms}}"  # the code's source only


def hget_calls(rdb: redis.Redis) -> int:
    """HGETs Valkey ran, its scripts' included."""
    stats: Any = rdb.info("commandstats")
    return int(stats.get("cmdstat_hget", {}).get("calls", 0))


def merges(world: World) -> bytes | None:
    return world.rdb.hget(keys.link(world.link.id), keys.F_MERGES)  # type: ignore[return-value]


def test_a_link_that_merges_no_contact_field_does_not_read_the_contact(
    edge: Edge, world: World
) -> None:
    merging = world.link.destination
    assert merges(world) == b"1"
    before = hget_calls(world.rdb)
    answer = edge.get(f"/{world.code}")
    assert answer.status_code == 302 and "Zoë Secretname" in unquote(answer.headers["location"])
    assert hget_calls(world.rdb) - before == 2  # the code's bucket, the contact

    world.put_link(destination=PLAIN)
    assert merges(world) == b"0"
    before = hget_calls(world.rdb)
    answer = edge.get(f"/{world.code}")
    assert (answer.status_code, answer.headers["location"]) == (
        302,
        "https://example.org/donate?src=sms",
    )
    assert hget_calls(world.rdb) - before == 1  # the code's bucket only

    world.put_link(destination=merging)  # an edit back: the contact is read and merged again
    assert merges(world) == b"1"
    answer = edge.get(f"/{world.code}")
    assert "Zoë Secretname" in unquote(answer.headers["location"])
    assert [ref for _event, ref in world.clicks()] == ["10:100:1"] * 3


def test_a_link_hash_without_the_flag_reads_the_contact(edge: Edge, world: World) -> None:
    """A link written before the flag existed: its contact is read, as it always was."""
    world.rdb.hdel(keys.link(world.link.id), keys.F_MERGES)
    answer = edge.get(f"/{world.code}")
    assert answer.status_code == 302 and "Zoë Secretname" in unquote(answer.headers["location"])
