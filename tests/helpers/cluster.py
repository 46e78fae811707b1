"""Real local Valkey Clusters for the tests, from smartlinks/cluster.py (the one starter): 3
masters for the session (``valkey_cluster``, about 2 s to start), and 3 masters with a
replica each for a module that kills masters (``valkey_cluster_replicas``). Registered in
tests/conftest.py (``pytest_plugins``).

Between tests, ``EmbeddedCluster.flush()`` empties every master (FLUSHALL goes to one node
otherwise). A test that moves slots puts them back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smartlinks.cluster import EmbeddedCluster, running

# Short, so that a killed master's replica takes over within a few seconds; long enough that
# a busy 2-core machine does not make a live master look failed.
TEST_NODE_TIMEOUT_MS = 2000



@pytest.fixture(scope="session")
def valkey_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedCluster]:
    """3 masters, no replicas, for the whole session: flush() it between tests."""
    with running(tmp_path_factory.mktemp("cluster"), node_timeout_ms=TEST_NODE_TIMEOUT_MS) as c:
        yield c


@pytest.fixture(scope="module")
def valkey_cluster_replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedCluster]:
    """3 masters with a replica each, for one module (its tests may kill masters)."""
    with running(tmp_path_factory.mktemp("cluster-replicas"), replicas=1,
                 node_timeout_ms=TEST_NODE_TIMEOUT_MS) as c:  # fmt: skip
        yield c
