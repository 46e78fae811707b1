"""The Redis clients of the roles other than the drain, on a real 3-master cluster: the one
client factory (sync.connections), a worker's heartbeat and liveness, and the admin's login
limiter (its two keys are in different slots: no MULTI over them)."""

from __future__ import annotations

from redis.cluster import RedisCluster

from admin import create_app
from admin.web import ratelimit
from core import config, keys
from smartlinks.cluster import EmbeddedCluster
from sync import liveness
from sync.connections import is_cluster, redis_client
from sync.worker import Worker
from tests.conftest import Servers


def test_redis_cluster_1_gives_every_role_the_cluster_client(
    servers: Servers, valkey_cluster: EmbeddedCluster
) -> None:
    single = redis_client(config.load({"REDIS_URL": servers.redis_url}))
    assert not is_cluster(single) and single.ping()
    clustered = redis_client(config.load({"REDIS_URL": valkey_cluster.url, "REDIS_CLUSTER": "1"}))
    try:
        assert isinstance(clustered, RedisCluster)
        assert len(clustered.get_primaries()) == 3
        # A worker's heartbeat, and another drain's view of it, through the cluster.
        worker = Worker("drain", clustered)
        worker.beat(force=True)
        assert not liveness.worker_gone(clustered, "drain", worker.worker_id, 60_000)
        assert liveness.worker_gone(clustered, "drain", "elsewhere:1", 60_000)  # no heartbeat
    finally:
        clustered.close()
        single.close()


def test_the_login_limiter_counts_on_a_cluster(
    servers: Servers, valkey_cluster: EmbeddedCluster
) -> None:
    valkey_cluster.flush()
    app = create_app(
        test_config={
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "SQLALCHEMY_DATABASE_URI": servers.database_url,
            "REDIS_URL": valkey_cluster.url,
            "REDIS_CLUSTER": True,
            "LOGIN_MAX_FAILURES": 3,
        }
    )
    with app.app_context():
        pair, per_ip = ratelimit._keys("203.0.113.9", "a@example.test")
        assert keys.slot(pair) != keys.slot(per_ip)
        assert ratelimit.blocked_for("203.0.113.9", "a@example.test") == 0
        for _ in range(3):
            ratelimit.record_failure("203.0.113.9", "a@example.test")
        assert ratelimit.blocked_for("203.0.113.9", "a@example.test") > 0
        assert ratelimit.blocked_for("203.0.113.9", "b@example.test") == 0  # another email
        ratelimit.clear("203.0.113.9", "a@example.test")
        assert ratelimit.blocked_for("203.0.113.9", "a@example.test") == 0
