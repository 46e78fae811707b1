"""What one token and one organisation may use of the API: requests per minute per token, and
requests in flight per organisation, both counted in Redis so that every admin process (and
every worker of each) shares one count. Over either limit the answer is 429 with Retry-After.

The rate is a fixed window per token that starts at its first request; the concurrency is a
semaphore per organisation, a sorted set of leases that expire, so that a process killed in
the middle of a request gives its slot back after ``LEASE_SECONDS`` at the latest. Why Redis
and not a library or Postgres: docs/decisions/0010-tenant-limits.md.

Redis being away must not take the API down with it: the limits then let requests through
and log a warning.
"""

from __future__ import annotations

import logging
import secrets

import redis
from flask import Response, current_app, request

from admin.api.errors import ApiError
from admin.extensions import redis_client

log = logging.getLogger(__name__)

RATE_PREFIX = "api:rate:"  # + token id
BUSY_PREFIX = "api:busy:"  # + organisation id
WINDOW_SECONDS = 60
# Longest a request keeps its slot if its process dies before giving it back; a request that
# runs longer (a huge export) loses the slot but not its answer.
LEASE_SECONDS = 120
BUSY_RETRY_SECONDS = 1
# Where a request keeps its slot: its own environ (``g`` may outlive one request).
LEASE_ENVIRON = "smartlinks.api_lease"

# n = requests in the window so far, ttl = seconds left in it. A key left without expiry (it
# cannot happen in one script, but an operator may copy keys) is given one.
_COUNT = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
"""
# Redis's own clock, so that admin processes whose clocks differ agree on what has expired.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


def _too_many(message: str, retry_after: int) -> ApiError:
    return ApiError(
        429, "too_many_requests", message, headers={"Retry-After": str(max(1, retry_after))}
    )


def admit(token_id: int, org_id: int) -> None:
    """Count the request against its token's rate and take one of its organisation's slots;
    raises ApiError 429 when either is used up. The slot goes back in ``release``."""
    client = redis_client()
    if client is None:
        return
    per_minute = int(current_app.config["API_REQUESTS_PER_MINUTE"])
    at_once = int(current_app.config["API_CONCURRENT_PER_ORG"])
    try:
        if per_minute:
            count, ttl = client.eval(_COUNT, 1, f"{RATE_PREFIX}{token_id}", WINDOW_SECONDS)  # type: ignore[misc]
            if int(count) > per_minute:
                raise _too_many(
                    f"this token made more than {per_minute} requests this minute", int(ttl)
                )
        if at_once:
            lease = secrets.token_hex(8)
            key = f"{BUSY_PREFIX}{org_id}"
            if not client.eval(_ACQUIRE, 1, key, lease, at_once, LEASE_SECONDS):  # type: ignore[misc]
                raise _too_many(
                    f"the organisation has {at_once} requests under way already",
                    BUSY_RETRY_SECONDS,
                )
            request.environ[LEASE_ENVIRON] = (key, lease)
    except redis.RedisError:
        log.warning("API limits unavailable (Redis error); letting the request through")


def hold_until_sent(response: Response) -> Response:
    """A streamed answer (a CSV export) works until its last chunk: its slot goes back when
    the server closes it, not when the view returns."""
    if not response.is_streamed:
        return response  # its work is done: the teardown gives the slot back
    held = request.environ.pop(LEASE_ENVIRON, None)
    client = redis_client() if held else None
    if client is not None and held is not None:
        response.call_on_close(lambda: _give_back(client, *held))
    return response


def release(_exc: BaseException | None = None) -> None:
    """Give the request's slot back once its answer is made (a streamed one keeps it)."""
    held = request.environ.pop(LEASE_ENVIRON, None)
    client = redis_client() if held else None
    if client is not None and held is not None:
        _give_back(client, *held)


def _give_back(client: redis.Redis, key: str, lease: str) -> None:
    try:
        client.zrem(key, lease)
    except redis.RedisError:
        log.warning("could not give an API slot back (Redis error); its lease will expire")
