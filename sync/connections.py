"""Where the servers are, for the workers: the settings' DATABASE_URL and REDIS_URL, else those
of the running `smartlinks up` (core.config reads its runtime file); and the one place that makes
Redis clients, a plain one or, with REDIS_CLUSTER=1, redis-py's cluster client.

Every role but the edge (which speaks RESP itself, edge/wire.py) gets its client here: sync and
its reconcile, the drain, webhooks, the sender's heartbeat, the admin's login limiter and
`smartlinks health`.
"""

from __future__ import annotations

from typing import Any, cast

import redis
from redis.cluster import RedisCluster

from core import config

# On a cluster, what a master's failure looks like until its replica is promoted and the
# client has the new slot map: a role waits these out as it does a restarted Redis.
CLUSTER_TRANSIENT: tuple[type[BaseException], ...] = (
    redis.exceptions.ClusterError,  # CLUSTERDOWN, MASTERDOWN; redirections all used up
    redis.exceptions.TryAgainError,  # TRYAGAIN: a multi-key command during a slot migration
    redis.exceptions.SlotNotCoveredError,  # the slot map lacks a slot (mid-failover)
)


def servers(settings: config.Settings) -> tuple[str, str]:
    """The database (as libpq reads it) and Redis URLs; SettingsError naming what is missing."""
    return config.libpq_url(settings), _redis_url(settings)


def _redis_url(settings: config.Settings) -> str:
    redis_url = config.redis_url(settings)
    if not redis_url:
        raise config.SettingsError(
            "REDIS_URL is not set and no `smartlinks up` is running in "
            f"{settings.data_dir}: set REDIS_URL or start `smartlinks up`"
        )
    return redis_url


def connect(url: str, cluster: bool, **options: Any) -> redis.Redis:
    """A client of ``url``: with ``cluster``, redis-py's RedisCluster started from that one node
    (it learns the others from CLUSTER SLOTS and follows MOVED, ASK and failovers).

    Typed as ``redis.Redis``: both share the command methods we call; what differs on a
    cluster (a MULTI or a multi-key command must stay within one slot, SCAN and KEYS must ask
    every master) is handled where it is used (``is_cluster()``)."""
    if not cluster:
        return redis.Redis.from_url(url, **options)
    return cast(redis.Redis, RedisCluster.from_url(url, **options))


def redis_client(settings: config.Settings, **options: Any) -> redis.Redis:
    """The Redis (or cluster) of ``settings``; SettingsError when there is none."""
    return connect(_redis_url(settings), config.redis_cluster(settings), **options)


def is_cluster(client: redis.Redis | Any) -> bool:
    return isinstance(client, RedisCluster)
