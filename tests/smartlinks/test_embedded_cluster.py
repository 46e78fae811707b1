"""The local Valkey Cluster of smartlinks/cluster.py: formed on the first start with one password
(never on a command line), found formed again from its folder with its data, and a folder's
layout kept."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster

from smartlinks.cluster import EmbeddedCluster, check_layout, free_node_port


def _stop(procs: list) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(15)


def test_a_cluster_is_formed_once_and_found_formed_from_its_folder(tmp_path: Path) -> None:
    ports = [free_node_port() for _ in range(3)]
    cluster = EmbeddedCluster(tmp_path / "cluster", ports)  # durable: AOF, as `up` runs it
    procs = cluster.start()
    try:
        password = cluster.password
        for proc in procs:
            assert password.encode() not in Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        with pytest.raises((redis.AuthenticationError, redis.ResponseError)):
            redis.Redis(port=ports[1], socket_timeout=2).ping()
        client = RedisCluster.from_url(cluster.url)
        assert len(client.get_primaries()) == 3
        for n in range(30):  # keys on every master
            client.set(f"k{n}", n)
        client.close()
    finally:
        _stop(procs)
    again = EmbeddedCluster(tmp_path / "cluster", ports)
    procs = again.start()
    try:
        assert again.password == password
        client = RedisCluster.from_url(again.url)
        assert [int(client.get(f"k{n}") or -1) for n in range(30)] == list(range(30))
        client.close()
    finally:
        _stop(procs)


def test_a_folder_keeps_its_layout(tmp_path: Path) -> None:
    check_layout(tmp_path, 3, 1)
    check_layout(tmp_path, 3, 1)  # the same: fine
    with pytest.raises(SystemExit, match="EMBEDDED_REDIS_SHARDS=3 and EMBEDDED_REDIS_REPLICAS=1"):
        check_layout(tmp_path, 4, 1)


def test_a_cluster_needs_three_masters_with_equal_replicas(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="3 masters"):
        EmbeddedCluster(tmp_path, [free_node_port() for _ in range(2)])
    with pytest.raises(ValueError, match="3 masters"):
        EmbeddedCluster(tmp_path, [free_node_port() for _ in range(5)], replicas=1)
