"""Carrier compliance of what we send: public shorteners and redirect chains as destinations,
and the lint of a message at compose time.

Carriers filter links on public shorteners and links that redirect elsewhere (CTIA guidance;
some carriers block them outright), so a link's destination must be the final URL. The API
refuses a shortener, and the API and the web form refuse a destination that redirects to another
host, unless an owner overrides it; each override is recorded in the audit log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx
from sqlalchemy import select, text

from admin.extensions import db
from admin.models import Link, Organisation, User
from admin.services import audit as audit_log
from admin.services import presets
from admin.services.errors import ValidationError
from core import logs
from core.merge import TemplateError, parse_template
from sync import outbound

log = logging.getLogger(__name__)

PUBLIC_SHORTENERS = frozenset(
    {
        "bit.ly", "bitly.com", "j.mp", "tinyurl.com", "goo.gl", "ow.ly", "t.ly", "is.gd",
        "v.gd", "cutt.ly", "rebrand.ly", "rb.gy", "buff.ly", "shorturl.at", "tiny.cc",
        "t.co", "lnkd.in", "s.id", "shorte.st", "adf.ly", "bl.ink", "short.io", "soo.gd",
        "qr.ae", "x.co", "po.st", "mcaf.ee", "su.pr", "trib.al", "dlvr.it", "ift.tt",
        "tiny.one", "clck.ru", "rotf.lol", "urlz.fr", "kutt.it", "surl.li", "linktr.ee",
    }
)  # fmt: skip


def shortener_of(destination: str) -> str | None:
    """The public shortener a destination points at (its host or a subdomain of it), if any."""
    try:
        host = (urlsplit(destination.split("{{", 1)[0]).hostname or "").lower().rstrip(".")
    except ValueError:
        return None
    labels = host.split(".")
    for start in range(len(labels) - 1):
        candidate = ".".join(labels[start:])
        if candidate in PUBLIC_SHORTENERS:
            return candidate
    return None


# Redirects followed at most; a chain longer than this is refused like any other.
MAX_HOPS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Names reserved for documentation and tests (RFC 2606, RFC 6761) serve no one's page: not
# fetched, so that saving such a link never waits on the network.
_RESERVED_SUFFIXES = (".test", ".example", ".invalid", ".localhost")
_RESERVED_DOMAINS = ("example.com", "example.net", "example.org", "localhost")


def _reserved(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host.endswith(_RESERVED_SUFFIXES) or any(
        host == d or host.endswith("." + d) for d in _RESERVED_DOMAINS
    )


def _site(url: str) -> str:
    """The host a URL names, without "www." (a redirect to www. or back stays on the site)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return host.removeprefix("www.")


def redirect_chain(destination: str) -> list[str]:
    """The URLs the destination (merged with defaults only) redirects through, in order; empty
    when it answers itself. Fetched through the guarded outbound client (sync/outbound.py: no
    private address is ever reached); a host that cannot be reached ends the chain, since a
    page may not be live yet when its link is made."""
    try:
        url = parse_template(destination).render(None)
    except TemplateError:
        return []
    if _reserved(urlsplit(url).hostname or ""):
        return []
    chain: list[str] = []
    policy = outbound.Policy.from_env(connect_timeout=3.0, read_timeout=4.0, total_timeout=8.0)
    with outbound.client(policy, headers={"User-Agent": "smartlinks-link-check"}) as http:
        for _ in range(MAX_HOPS):
            try:
                with http.stream("GET", url) as resp:  # headers only: the body is never read
                    location = resp.headers.get("location")
                    if resp.status_code not in _REDIRECTS or not location:
                        break
            # InvalidURL is not an HTTPError: a URL (or a redirect's Location) the client cannot
            # parse, such as "HTTP://[::]A", cannot be fetched, so it ends the chain too.
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                logs.event(log, "destination not checked", logging.INFO, url=url[:300],
                           error=outbound.public_error(exc))  # fmt: skip
                break
            url = urljoin(url, location)
            chain.append(url)
    return chain


def leaves_site(destination: str, chain: list[str]) -> bool:
    """True when a redirect takes the visitor to another host than the destination's."""
    start = _site(destination.split("{{", 1)[0])
    return any(_site(hop) != start for hop in chain)


def audit(org_id: int, action: str, destination: str, **detail: object) -> None:
    """An owner's override, in the audit log, in the caller's transaction: it is there exactly
    when the link it allowed is saved. Who acted is the request's actor (services/audit.py)."""
    audit_log.record(org_id, action, destination, detail=detail)


@dataclass(frozen=True)
class Override:
    """What the person saving a link allows: a public shortener, a redirect to another host;
    ``actor`` (an owner, "user:<id>") makes each use an audit event."""

    shortener: bool = False
    redirects: bool = False
    actor: str = ""


# The web form warns about a shortener instead of refusing it; a redirect it refuses.
WEB_FORM = Override(shortener=True)


def check_destination(destination: str, *, org_id: int, override: Override = WEB_FORM) -> None:
    """Refuse a destination on a public shortener, unless allowed, and one that redirects to
    another host, unless an owner allows it; each override an owner makes is recorded in the
    audit log."""
    shortener = shortener_of(destination)
    if shortener is not None:
        if not override.shortener:
            raise ValidationError(
                "destination",
                f"the destination is on {shortener}, a public shortener that carriers filter: "
                'use the final URL (an owner may override this with "allow_shortener": true)',
            )
        logs.event(
            log, "public shortener allowed by an owner", logging.WARNING, org_id=org_id,
            shortener=shortener, destination=destination[:300],
        )  # fmt: skip
        if override.actor:
            audit(org_id, "link.shortener_override", destination,
                  shortener=shortener)  # fmt: skip
        return  # a shortener redirects by nature: allowed as one
    chain = redirect_chain(destination)
    if not leaves_site(destination, chain):
        return
    if not override.redirects:
        raise ValidationError(
            "destination",
            f"the destination redirects to {_site(chain[-1]) or chain[-1]} ({len(chain)} "
            "redirect" + ("s" if len(chain) != 1 else "") + "), which carriers filter: use the "
            'final URL (an owner may override this with "allow_redirects": true)',
        )
    logs.event(log, "redirecting destination allowed", logging.WARNING, org_id=org_id,
               destination=destination[:300], hops=len(chain))  # fmt: skip
    audit(org_id, "link.redirect_override", destination, chain=chain)


def destination_warnings(destination: str) -> list[str]:
    """Advice on a destination that may be saved: blanks left from a preset's example."""
    return presets.leftovers(destination)


LINT_CHUNK = 50_000
_FIRST_CONTACTS = text(
    """
    SELECT count(*) FROM unnest(CAST(:ids AS bigint[])) AS r(id)
    WHERE NOT EXISTS (
        SELECT 1 FROM messages m WHERE m.contact_id = r.id AND m.direction = 'out'
          AND NOT m.compliance AND m.status NOT IN ('canceled', 'opted_out')
    )
    """
)


def lint(
    org_id: int, body: str, link: Link | None, contact_ids: Sequence[int]
) -> list[str]:
    """Warnings at compose time, by the carriers' guidance: a first message that does not name
    the organisation or say how to opt out, and a link on an unverified domain or a shortener.
    ``contact_ids`` go to the database LINT_CHUNK at a time (an audience may be millions)."""
    found: list[str] = []
    org_name = db.session.scalar(select(Organisation.name).where(Organisation.id == org_id)) or ""
    first = sum(
        int(db.session.scalar(_FIRST_CONTACTS, {"ids": list(contact_ids[i : i + LINT_CHUNK])}) or 0)
        for i in range(0, len(contact_ids), LINT_CHUNK)
    )
    if first and org_name and org_name.casefold() not in body.casefold():
        found.append(
            f"{first} recipient{'s' if first != 1 else ''} hear from you for the first time: "
            f"name {org_name} in the message."
        )
    if first and "stop" not in body.casefold():
        found.append("A first message should say how to opt out (\"Reply STOP to opt out\").")
    if link is not None:
        if link.domain.verified_at is None:
            found.append(
                f"The link is on {link.domain.hostname}, which is not verified: carriers filter "
                "links on domains that are not your own verified ones."
            )
        shortener = shortener_of(link.destination)
        if shortener:
            found.append(f"The link's destination is on {shortener}, a public shortener.")
    return found


def is_owner(org_id: int, user_id: int | None) -> bool:
    """True when ``user_id`` is an active owner of the organisation."""
    if user_id is None:
        return False
    role = db.session.scalar(
        select(User.role).where(User.id == user_id, User.org_id == org_id, User.active)
    )
    return role == "owner"
