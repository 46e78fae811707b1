"""What one token and one organisation may use of the API: requests per minute per token,
requests in flight per organisation and, of those, uploads in flight per organisation, all
counted in Redis so that every admin process (and every worker of each) shares one count.
Over a limit the answer is 429 with Retry-After.

The rate is a fixed window per token that starts at its first request; the concurrency is a
semaphore per organisation, a sorted set of leases that expire, so that a process killed in
the middle of a request gives its slot back after ``LEASE_SECONDS`` at the latest. Why Redis
and not a library or Postgres: docs/decisions/0010-tenant-limits.md.

The ``Gate`` (WSGI middleware) counts a token it has seen before Flask, the database or the
body, so that a flooding tenant's refused requests cost next to nothing; the API's
authentication counts a token seen for the first time; pages' exports count through
admin/web/exports.py. The Gate gives every slot back when the server closes the answer.

Redis being away must not take the API down with it: the limits then let requests through
and log a warning.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import redis
from flask import Flask, Response, current_app, request
from werkzeug.wsgi import ClosingIterator

from admin.api.errors import ApiError, error_body
from admin.extensions import redis_client
from admin.security import hash_token

log = logging.getLogger(__name__)

RATE_PREFIX = "api:rate:"  # + token id
BUSY_PREFIX = "api:busy:"  # + organisation id
UPLOAD_PREFIX = "api:uploads:"  # + organisation id
# (method, path) of the heavy bodies: the API's upload and the page's (admin/web/imports.py)
UPLOADS = {("POST", "/api/v1/contacts/import"), ("POST", "/contacts/import")}
WINDOW_SECONDS = 60
# Longest a request keeps its slot if its process dies before giving it back; a request that
# runs longer (a huge export) loses the slot but not its answer.
LEASE_SECONDS = 120
BUSY_RETRY_SECONDS = 1
# Where a request keeps its slot: its own environ (``g`` may outlive one request).
LEASE_ENVIRON = "smartlinks.api_lease"
ADMITTED_ENVIRON = "smartlinks.api_admitted"  # counted once, whoever counted it
STREAMED_ENVIRON = "smartlinks.streamed"
GATE_EXTENSION = "smartlinks.gate"
API_PREFIX = "/api/v1/"
MAX_TOKENS = 10_000  # tokens the Gate remembers (their hash, id and organisation)
DRAIN_BYTES = 4 * 1024 * 1024  # a refused body up to this size is read (and dropped)

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


class Refused(Exception):
    """Over a limit: the message, the seconds to wait and the field it concerns, if any."""

    def __init__(self, message: str, retry_after: int, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = max(1, retry_after)
        self.field = field

    def as_api_error(self) -> ApiError:
        return ApiError(
            429,
            "too_many_requests",
            self.message,
            self.field,
            headers={"Retry-After": str(self.retry_after)},
        )


def take(app: Flask, environ: dict[str, Any], org_id: int, token_id: int | None = None) -> None:
    """Count the request against its token's rate (when it has a token) and take one of its
    organisation's slots, and for an upload one of its upload slots, kept in ``environ`` until
    the Gate gives them back; raises Refused when one is used up. Once per request."""
    if ADMITTED_ENVIRON in environ:
        return
    environ[ADMITTED_ENVIRON] = True
    client = redis_client(app)
    if client is None:
        return
    per_minute = int(app.config["API_REQUESTS_PER_MINUTE"])
    at_once = int(app.config["API_CONCURRENT_PER_ORG"])
    uploads = int(app.config["IMPORTS_PER_ORG"])
    try:
        if per_minute and token_id is not None:
            count, ttl = client.eval(_COUNT, 1, f"{RATE_PREFIX}{token_id}", WINDOW_SECONDS)  # type: ignore[misc]
            if int(count) > per_minute:
                raise Refused(f"this token made more than {per_minute} requests this minute", int(ttl))
        # An upload is read, decoded and checked before its import is queued: no more of them
        # at once than imports may run, so that a burst of them is refused before its bodies.
        # Checked first: most of a burst is refused here, at one Redis call, with no request
        # slot taken that must be given back.
        if uploads and (environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")) in UPLOADS:
            _acquire(client, environ, f"{UPLOAD_PREFIX}{org_id}", uploads, Refused(
                f"the organisation has {uploads} uploads under way already", BUSY_RETRY_SECONDS,
                "file",
            ))  # fmt: skip
        if at_once:
            _acquire(client, environ, f"{BUSY_PREFIX}{org_id}", at_once, Refused(
                f"the organisation has {at_once} requests under way already", BUSY_RETRY_SECONDS
            ))  # fmt: skip
    except Refused:
        # A slot taken before the refusal (the upload slot of an upload refused for want of a
        # request slot) goes back now: the refused request never reaches the code that
        # would give it back, and a burst would hold all its organisation's slots.
        _give_back(environ)
        raise
    except redis.RedisError:
        log.warning("API limits unavailable (Redis error); letting the request through")


def _acquire(
    client: redis.Redis, environ: dict[str, Any], key: str, most: int, refusal: Refused
) -> None:
    lease = secrets.token_hex(8)
    if not client.eval(_ACQUIRE, 1, key, lease, most, LEASE_SECONDS):  # type: ignore[misc]
        raise refusal
    environ.setdefault(LEASE_ENVIRON, []).append((client, key, lease))


def admit(token_id: int, org_id: int) -> None:
    """For an API request whose token was just read from the database (the Gate had not seen
    it): its rate and its organisation's slot; ApiError 429 over either. The Gate remembers
    the token's organisation, so its next requests are counted before any database work."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    gate = app.extensions.get(GATE_EXTENSION)
    if gate is not None:
        gate.remember(request.headers.get("Authorization", ""), token_id, org_id)
    try:
        take(app, request.environ, org_id, token_id)
    except Refused as exc:
        raise exc.as_api_error() from None


def _note_streamed(response: Response) -> Response:
    if response.is_streamed:
        request.environ[STREAMED_ENVIRON] = True
    return response


def _answered(_exc: BaseException | None = None) -> None:
    """An answer made whole gives its slot back with its request context; a streamed one
    works until its last chunk, and the Gate gives it back when the server closes it."""
    if not request.environ.get(STREAMED_ENVIRON):
        _give_back(request.environ)


def _give_back(environ: dict[str, Any]) -> None:
    for client, key, lease in environ.pop(LEASE_ENVIRON, ()):
        try:
            client.zrem(key, lease)
        except redis.RedisError:
            log.warning("could not give an API slot back (Redis error); its lease will expire")


class Gate:
    """WSGI middleware around the whole app. An API request whose token it has seen before
    is counted and given its organisation's slot here, before Flask, the database or the
    body: over a limit, the 429 costs a hash and one Redis call, so a flooding tenant's
    refused requests hold a request thread for next to nothing. Every slot (taken here, by
    ``admit`` or by a page's export) goes back when the server closes the answer: after the
    last chunk of a streamed CSV.

    A token is remembered (by its hash, ``MAX_TOKENS`` at most) once the database accepted
    it. A token revoked since may so be refused with 429 before it is refused with 401: it
    learns only that its organisation is busy, and the database still decides every request
    that goes through."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.inner = app.wsgi_app
        self._tokens: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._lock = threading.Lock()
        app.extensions[GATE_EXTENSION] = self
        app.wsgi_app = self  # type: ignore[method-assign]
        app.after_request(_note_streamed)
        app.teardown_request(_answered)

    def remember(self, authorization: str, token_id: int, org_id: int) -> None:
        digest = _token_hash(authorization)
        if digest is None:
            return
        with self._lock:
            self._tokens[digest] = (token_id, org_id)
            self._tokens.move_to_end(digest)
            while len(self._tokens) > MAX_TOKENS:
                self._tokens.popitem(last=False)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if str(environ.get("PATH_INFO", "")).startswith(API_PREFIX):
            digest = _token_hash(str(environ.get("HTTP_AUTHORIZATION", "")))
            with self._lock:
                known = self._tokens.get(digest) if digest else None
            if known is not None:
                try:
                    take(self.app, environ, known[1], known[0])
                except Refused as exc:
                    _drain(environ)
                    return _refusal(exc)(environ, start_response)
        try:
            answer = self.inner(environ, start_response)
        except BaseException:
            _give_back(environ)
            raise
        return ClosingIterator(answer, [lambda: _give_back(environ)])


def _drain(environ: dict[str, Any]) -> None:
    """Read a refused request's body (a CSV upload's) and drop it, so that its client, still
    sending, reads the 429 rather than a connection reset; a body over ``DRAIN_BYTES`` is left
    unread (cheaper to drop the connection than to read it). Reading holds the request thread
    while the client sends: a burst of refused uploads from a busy client held threads for up
    to 80 ms each; a bound on the threads that read (others answered unread) let a client see
    a reset instead of its 429 (1 upload in about 600), so every such body is read. A client
    that sends its refused bodies slowly on purpose is for a proxy in front to cut off."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    if 0 < length <= DRAIN_BYTES:
        stream = environ["wsgi.input"]
        while length > 0:
            chunk = stream.read(min(length, 65536))
            if not chunk:
                return
            length -= len(chunk)


def _token_hash(authorization: str) -> str | None:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return hash_token(token.strip())


def _refusal(exc: Refused) -> Response:
    return Response(
        json.dumps({"error": error_body("too_many_requests", exc.message, exc.field)}),
        429,
        {"Retry-After": str(exc.retry_after)},
        mimetype="application/json",
    )
