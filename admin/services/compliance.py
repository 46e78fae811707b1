"""Carrier compliance of what we send: public shorteners as destinations, and the lint of a
message at compose time.

Carriers filter links on public shorteners (CTIA guidance; some carriers block them outright),
so a link's destination must be the final URL. The list lives here only: the API refuses such a
destination unless an owner overrides it, and the web form warns about it.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from sqlalchemy import select, text

from admin.extensions import db
from admin.models import Link, Organisation, User
from admin.services.errors import ValidationError
from core import logs

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


def check_destination(destination: str, *, allow_shortener: bool, org_id: int) -> None:
    """Refuse a destination on a public shortener, unless allowed (an owner's override, which
    is logged so that it can be found later)."""
    shortener = shortener_of(destination)
    if shortener is None:
        return
    if not allow_shortener:
        raise ValidationError(
            "destination",
            f"the destination is on {shortener}, a public shortener that carriers filter: use "
            'the final URL (an owner may override this with "allow_shortener": true)',
        )
    logs.event(
        log, "public shortener allowed by an owner", logging.WARNING, org_id=org_id,
        shortener=shortener, destination=destination[:300],
    )  # fmt: skip


_FIRST_CONTACTS = text(
    """
    SELECT count(*) FROM unnest(CAST(:ids AS bigint[])) AS r(id)
    WHERE NOT EXISTS (
        SELECT 1 FROM messages m WHERE m.contact_id = r.id AND m.direction = 'out'
          AND NOT m.compliance AND m.status NOT IN ('canceled', 'opted_out')
    )
    """
)


def lint(org_id: int, body: str, link: Link | None, contact_ids: list[int]) -> list[str]:
    """Warnings at compose time, by the carriers' guidance: a first message that does not name
    the organisation or say how to opt out, and a link on an unverified domain or a shortener."""
    found: list[str] = []
    org_name = db.session.scalar(select(Organisation.name).where(Organisation.id == org_id)) or ""
    first = int(db.session.scalar(_FIRST_CONTACTS, {"ids": contact_ids}) or 0)
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
