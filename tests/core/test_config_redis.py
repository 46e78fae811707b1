"""The Redis settings: a cluster, its key partitions, and `smartlinks up`'s local cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import config, runtime
from core.config import SettingsError, load


def test_partitions_default_to_one_and_to_64_on_a_cluster() -> None:
    assert load({}).redis.partitions == 1
    assert load({"REDIS_CLUSTER": "1"}).redis.partitions == config.CLUSTER_PARTITIONS == 64
    assert load({"REDIS_CLUSTER": "1", "REDIS_PARTITIONS": "16"}).redis.partitions == 16
    assert load({"REDIS_PARTITIONS": "4"}).redis.partitions == 4  # a single Redis may shard too
    # `up` starting a local cluster (no REDIS_URL): its roles get REDIS_CLUSTER=1 and the same.
    assert load({"EMBEDDED_REDIS_SHARDS": "3"}).redis.partitions == 64
    assert load({"EMBEDDED_REDIS_SHARDS": "3", "REDIS_URL": "redis://r:6379/0"}).redis.partitions == 1


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"REDIS_PARTITIONS": "1025"}, "REDIS_PARTITIONS must be between 0 and 1024"),
        ({"REDIS_PARTITIONS": "-1"}, "REDIS_PARTITIONS must be between 0 and 1024"),
        ({"REDIS_PARTITIONS": "many"}, "REDIS_PARTITIONS must be an integer"),
        ({"REDIS_CLUSTER": "maybe"}, "REDIS_CLUSTER must be 1 or 0"),
        ({"EMBEDDED_REDIS_SHARDS": "2"}, "EMBEDDED_REDIS_SHARDS must be 1, or between 3"),
        ({"EMBEDDED_REDIS_SHARDS": "17"}, "EMBEDDED_REDIS_SHARDS must be between 1 and 16"),
        ({"EMBEDDED_REDIS_REPLICAS": "1"}, "EMBEDDED_REDIS_REPLICAS needs a local cluster"),
        (
            {"REDIS_CLUSTER": "1", "REDIS_URL": "unix:///run/valkey.sock"},
            "REDIS_CLUSTER needs a redis:// or rediss:// REDIS_URL",
        ),
        (
            {"EMBEDDED_REDIS_SHARDS": "3", "EMBEDDED_REDIS_REPLICAS": "3"},
            "EMBEDDED_REDIS_REPLICAS must be between 0 and 2",
        ),
    ],
)
def test_bad_redis_settings_name_the_variable(environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load(environ)


def test_without_redis_url_the_running_ups_cluster_and_partitions_apply(tmp_path: Path) -> None:
    settings = load({"SMARTLINKS_DATA_DIR": str(tmp_path)})
    assert (config.redis_cluster(settings), config.redis_partitions(settings)) == (False, 1)
    runtime.write(tmp_path, redis_url="redis://127.0.0.1:7000/0", redis_cluster="1",
                  redis_partitions="64")  # fmt: skip
    assert (config.redis_cluster(settings), config.redis_partitions(settings)) == (True, 64)
    # REDIS_URL given: its own settings, whatever `up` runs.
    own = load({"SMARTLINKS_DATA_DIR": str(tmp_path), "REDIS_URL": "redis://elsewhere:6379/0"})
    assert (config.redis_cluster(own), config.redis_partitions(own)) == (False, 1)
