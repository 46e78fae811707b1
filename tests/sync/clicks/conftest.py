"""``streams``: the click streams the drain's key tests run against, each test twice: today's
single Redis (one stream, ``sl:clicks``) and a real 3-master Valkey Cluster with the stream in
``CLUSTER_PARTITIONS`` shards spread over the masters (tests/helpers/cluster.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from smartlinks.cluster import EmbeddedCluster
from tests.conftest import Servers
from tests.sync.clicks.streams import Streams

CLUSTER_PARTITIONS = 8  # 3/3/2 over the masters: every master, and shards sharing one


@pytest.fixture(params=["single", "cluster"])
def streams(request: pytest.FixtureRequest, clean: Servers) -> Iterator[Streams]:
    if request.param == "single":
        client = redis.Redis.from_url(clean.redis_url)
        partitions = 1
    else:
        cluster: EmbeddedCluster = request.getfixturevalue("valkey_cluster")
        cluster.flush()
        client = cluster.client()
        partitions = CLUSTER_PARTITIONS
    found = Streams(client, partitions, clean.database_url)
    yield found
    for drain in found.made:
        drain.close()
    client.close()
