"""Failed-login counters in Redis: per (IP, email) and per IP, in a fixed window.

A guesser gets ``LOGIN_MAX_FAILURES`` tries per email from one address, and ten times that
over all emails, per window. Redis being down must not lock everyone out, so the limiter
then lets the attempt through (and logs it); the argon2 cost still slows a guesser.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging

import redis
from flask import current_app

from admin.extensions import redis_client
from sync.connections import is_cluster

log = logging.getLogger(__name__)

KEY_PREFIX = "web:login:fail:"


def _keys(ip: str, email: str) -> tuple[str, str]:
    pair = hashlib.sha256(f"{ip}\x00{email}".encode()).hexdigest()[:32]
    return KEY_PREFIX + "pair:" + pair, KEY_PREFIX + "ip:" + ip


def _limits() -> tuple[int, int, int]:
    per_pair = int(current_app.config["LOGIN_MAX_FAILURES"])
    return per_pair, per_pair * 10, int(current_app.config["LOGIN_WINDOW_SECONDS"])


def blocked_for(ip: str, email: str) -> int:
    """Seconds until another try is allowed; 0 when it is allowed now."""
    client = redis_client()
    if client is None:
        return 0
    per_pair, per_ip, _ = _limits()
    pair_key, ip_key = _keys(ip, email)
    try:
        pipe = client.pipeline(transaction=False)
        for key in (pair_key, ip_key):
            pipe.get(key)
            pipe.ttl(key)
        pair_count, pair_ttl, ip_count, ip_ttl = pipe.execute()
    except redis.RedisError:
        log.warning("login rate limit unavailable (Redis error); allowing the attempt")
        return 0
    wait = 0
    if int(pair_count or 0) >= per_pair:
        wait = max(wait, int(pair_ttl), 1)
    if int(ip_count or 0) >= per_ip:
        wait = max(wait, int(ip_ttl), 1)
    return wait


def record_failure(ip: str, email: str) -> None:
    client = redis_client()
    if client is None:
        return
    _, _, window = _limits()
    try:
        # The two keys are in different slots of a cluster, where a MULTI cannot hold both.
        pipe = client.pipeline(transaction=not is_cluster(client))
        for key in _keys(ip, email):
            pipe.incr(key)
            pipe.expire(key, window, nx=True)
        pipe.execute()
    except redis.RedisError:
        log.warning("could not record a failed login (Redis error)")


def clear(ip: str, email: str) -> None:
    client = redis_client()
    if client is None:
        return
    with contextlib.suppress(redis.RedisError):
        client.delete(_keys(ip, email)[0])
