"""The hot route, ``GET|HEAD /{code}[/{extension...}]``: one Redis round trip, then the answer.

A raw endpoint for either of granian's interfaces (no Request object): the few headers it
needs are read in one pass over the header list, and answers carry precomputed header lists
(edge/pages.py).

When Redis (the server of the code's partition) cannot answer (edge/outage.py), a request for a
code this worker resolved recently is answered from the server's memory (edge/memory.py) and
its click spooled (edge/spool.py); any other request answers 503 with Retry-After, and nothing
is recorded for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from time import perf_counter

from granian.rsgi import HTTPProtocol
from granian.rsgi import Scope as RSGIScope
from starlette.types import Message, Receive, Scope, Send

from core import logs
from core.clicks import HUMAN
from core.codes import is_code
from core.hostnames import normalize_host_header
from core.records import STREAM_EVENT, STREAM_REF, DomainRecord
from core.urls import short_url
from edge import pages
from edge.classify import classify
from edge.clicks import TrustedProxies, amendment_fields, encode_event
from edge.destinations import build_location, defaults_only, template_for
from edge.memory import Memory
from edge.metrics import SharedMetrics
from edge.outage import Outage
from edge.preview import render_preview
from edge.resolve import Outcome, RedisUnavailable, Resolution, Resolver
from edge.rsgi import host_header, split_address
from edge.spool import Spool

log = logging.getLogger("edge.visit")

host_of = lru_cache(maxsize=4096)(normalize_host_header)


@dataclass
class EdgeContext:
    """What every request of one worker shares."""

    resolver: Resolver
    proxies: TrustedProxies
    metrics: SharedMetrics
    short_url_scheme: str
    public_admin_url: str
    memory: Memory
    outage: Outage
    spool: Spool

    def measure_memory(self) -> None:
        """The memory's gauges in this worker's metrics (the memory is shared: not summed)."""
        self.metrics.local.memory_entries = len(self.memory)
        self.metrics.local.memory_bytes = self.memory.size_bytes()


@dataclass(slots=True)
class RequestHeaders:
    """What the hot route reads of a request: a few headers, and the peer's address."""

    host: str = ""
    user_agent: str = ""
    sec_purpose: str = ""
    purpose: str = ""
    referer: str = ""
    forwarded_for: str = ""
    peer: str = ""


# Header name (ASGI's bytes or RSGI's text, both lower case) -> the field it fills.
_FIELDS = {
    name: field
    for text, field in (
        ("host", "host"),
        ("user-agent", "user_agent"),
        ("referer", "referer"),
        ("x-forwarded-for", "forwarded_for"),
        ("sec-purpose", "sec_purpose"),
        ("purpose", "purpose"),
        ("x-purpose", "purpose"),
        ("x-moz", "purpose"),
    )
    for name in (text, text.encode("ascii"))
}


def read_headers(raw: Iterable[tuple[bytes, bytes]] | Iterable[tuple[str, str]]) -> RequestHeaders:
    """One pass over the header list: ASGI's (bytes, bytes) pairs, decoded as latin-1, or RSGI's
    text pairs (granian gives RSGI only the values that are visible ASCII). X-Forwarded-For
    headers are joined with commas; for the others the last one counts."""
    h = RequestHeaders()
    for name, value in raw:
        field = _FIELDS.get(name)
        if field is None:
            continue
        text = value if type(value) is str else value.decode("latin-1")  # type: ignore[union-attr]
        if field == "forwarded_for" and h.forwarded_for:
            text = f"{h.forwarded_for},{text}"
        setattr(h, field, text)
    return h


def asgi_request(scope: Scope) -> RequestHeaders:
    h = read_headers(scope["headers"])
    client = scope.get("client")
    h.peer = client[0] if client else ""
    return h


# What the edge reads as the User-Agent of a request that sent one granian cannot give as text
# (a byte outside visible ASCII: RSGI leaves such values out). Read as absent, the person
# would be taken for a bot ("no user agent") and get the preview page instead of the redirect;
# ASGI read such a value as latin-1, and the classification found no crawler in it. Recorded
# with the click as it is, so that nobody takes it for an agent the person's phone sent.
UNREADABLE_AGENT = "(unreadable: bytes outside visible ASCII)"


def rsgi_request(scope: RSGIScope) -> RequestHeaders:
    """The same from granian's RSGI scope (an HTTP/2 request's Host is its ``:authority``, as
    granian's ASGI scope has it). Each read of a scope attribute makes a new object in granian
    (``headers`` a copy of the header map): each is read once."""
    headers = scope.headers
    h = read_headers(headers.items())
    if not h.host:
        h.host = host_header(scope, headers) or ""
    if not h.user_agent and "user-agent" in headers and headers.get("user-agent") is None:
        h.user_agent = UNREADABLE_AGENT  # sent, but not as text (an empty one reads "")
    h.peer = split_address(scope.client)[0]
    return h


class Visit:
    """The short-link route's endpoint (ASGI and RSGI)."""

    def __init__(self, ctx: EdgeContext) -> None:
        self.ctx = ctx
        self._warned_at = 0.0
        self._unwarned = 0

    def warn_unavailable(self) -> None:
        """One log line per second at most while Redis is down, with the count it stands for."""
        self._unwarned += 1
        now = perf_counter()
        if now - self._warned_at >= 1.0:
            logs.event(
                log, "redis unavailable: 503, not in memory", logging.WARNING, requests=self._unwarned
            )
            self._warned_at = now
            self._unwarned = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """As a Starlette endpoint (the route's ``code`` path parameter)."""
        await self.serve(scope, scope["path_params"]["code"], send)

    async def serve(self, scope: Scope, code: str, send: Send) -> None:
        """Answer a GET or HEAD of ``/{code}[/...]`` through ASGI (edge/app.py's dispatcher calls
        this directly, without Starlette's routing)."""
        response, error = await self.respond(scope["method"], asgi_request(scope), code)
        await response(scope, _no_receive, send)
        if error is not None:
            raise error

    async def serve_rsgi(
        self, scope: RSGIScope, method: str, code: str, protocol: HTTPProtocol
    ) -> None:
        """The same through granian's RSGI interface (what ``smartlinks edge`` runs)."""
        response, error = await self.respond(method, rsgi_request(scope), code)
        response.write_rsgi(protocol)
        if error is not None:
            raise error

    async def respond(
        self, method: str, h: RequestHeaders, code: str
    ) -> tuple[pages.RawResponse, Exception | None]:
        """The answer, counted in the metrics; on an exception what Starlette's
        ServerErrorMiddleware does (the dispatcher skips it): a plain 500 (nothing was sent
        yet), and the exception, for the caller to raise once the 500 is written, so that it
        is logged."""
        started = perf_counter()
        try:
            response, outcome = await self.answer(method, h, code)
        except Exception as exc:
            return pages.internal_error(), exc
        self.ctx.metrics.local.observe(outcome, perf_counter() - started)
        return response, None

    async def answer(
        self, method: str, h: RequestHeaders, code: str
    ) -> tuple[pages.RawResponse, str]:
        head = method == "HEAD"
        host = host_of(h.host) if h.host else None
        if host is None or not is_code(code):
            return pages.not_found(head), "not_found"

        visitor = classify(method, h.user_agent, h.sec_purpose, h.purpose)
        click_id = event = None
        if visitor.counted:
            click_id, event = encode_event(
                code=code,
                host=host,
                kind=visitor.kind,
                reason=visitor.reason,
                user_agent=h.user_agent,
                ip=self.ctx.proxies.client_ip(h.peer, h.forwarded_for),
                referer=h.referer,
            )
        ctx = self.ctx
        res: Resolution | None = None
        if not ctx.outage.blocks(code):
            try:
                res = await ctx.resolver.resolve(host, code, event)
            except RedisUnavailable as exc:
                ctx.outage.begin(exc, code)
        if res is None:
            # No Redis: the answer it gave this worker last, if recent enough; else 503.
            res = ctx.memory.recall(host, code, time.time())
            if res is None:
                self.warn_unavailable()
                return pages.unavailable(head), "unavailable"
            expires = res.link.expires_at_ms if res.link is not None else 0
            if expires and expires <= time.time() * 1000:
                # Expired since Redis gave it: the fallback or 410, as the script would answer
                # (recorded nothing either way).
                ctx.memory.forget(host, code)
                assert res.domain is not None
                return self.fallback(res.domain, head, archived=True)
            ctx.metrics.local.memory_answers += 1
        elif res.outcome is Outcome.FOUND:
            ctx.memory.remember(host, code, res, time.time())
        else:
            ctx.memory.forget(host, code)

        if res.outcome is Outcome.UNKNOWN_HOST:
            return pages.not_found(head), "not_found"
        assert res.domain is not None
        if res.outcome is Outcome.UNKNOWN_CODE:
            return self.fallback(res.domain, head)
        if res.outcome is Outcome.ARCHIVED:
            return self.fallback(res.domain, head, archived=True)

        link = res.link
        assert link is not None
        template = template_for(link.destination)
        if template is None:
            logs.event(log, "unusable destination", logging.ERROR, link_id=link.id)
            return self.fallback(res.domain, head)

        if visitor.kind != HUMAN:
            page = render_preview(
                domain=res.domain,
                link=link,
                page_url=short_url(self.ctx.short_url_scheme, host, code, link.extension),
                destination=defaults_only(template),
                public_admin_url=self.ctx.public_admin_url,
            )
            if event is not None and not res.recorded:
                self.record_later(event, res)
            return pages.html(200, page, head), "preview"

        # A HEAD never reveals contact data: its Location is the defaults-only destination.
        if head:
            location = build_location(template, None)
        else:
            location = build_location(template, res.contact, res.source)
        if location is None:
            logs.event(log, "merged destination fails its check", logging.ERROR, link_id=link.id)
            return self.fallback(res.domain, head)
        if event is not None and not res.recorded:
            self.record_later(event, res)
        if location.merge_fallback and click_id is not None:
            await self.amend(click_id, link.id, res.recorded)
        return pages.redirect(location.url), "redirect"

    def record_later(self, event: bytes, res: Resolution) -> None:
        """A click answered but not in the stream (answered from memory, or the script ran past
        its deadline): to the spool, replayed into the stream once Redis takes it."""
        if not res.remembered:
            self.ctx.metrics.local.clicks_past_deadline += 1
        self.ctx.spool.add({STREAM_EVENT: event, STREAM_REF: res.ref})

    def fallback(
        self, domain: DomainRecord, head: bool, archived: bool = False
    ) -> tuple[pages.RawResponse, str]:
        """The domain's fallback_url (302) when it has a valid one, else 410 for an archived
        link and 404 for anything else."""
        if domain.fallback_url:
            template = template_for(domain.fallback_url)
            url = defaults_only(template) if template is not None else None
            if url is not None:
                return pages.redirect(url), "fallback"
        if archived:
            return pages.gone(head), "gone"
        return pages.not_found(head), "not_found"

    async def amend(self, click_id: str, link_id: int, recorded: bool) -> None:
        """The merged URL was refused: say so on the click (a rare second round trip; to the
        spool, after the click, when the click itself went there or Redis is away)."""
        self.ctx.metrics.local.merge_fallbacks += 1
        logs.event(log, "merge fallback", logging.WARNING, click_id=click_id, link_id=link_id)
        fields = amendment_fields(click_id)
        if recorded and not self.ctx.outage.down:
            try:
                await self.ctx.resolver.append(fields)
                return
            except RedisUnavailable as exc:
                logs.event(
                    log, "amendment spooled", logging.WARNING, click_id=click_id, error=str(exc)
                )
        self.ctx.spool.add(fields)


async def _no_receive() -> Message:
    raise RuntimeError("the edge never reads a request body")
