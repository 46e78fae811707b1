"""Carrier compliance of what we send: public shorteners as destinations.

Carriers filter links on public shorteners (CTIA guidance; some carriers block them outright),
so a link's destination must be the final URL. The list lives here only: the API refuses such a
destination unless an owner overrides it, and the web form warns about it.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from sqlalchemy import select

from admin.extensions import db
from admin.models import User
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


def is_owner(org_id: int, user_id: int | None) -> bool:
    """True when ``user_id`` is an active owner of the organisation."""
    if user_id is None:
        return False
    role = db.session.scalar(
        select(User.role).where(User.id == user_id, User.org_id == org_id, User.active)
    )
    return role == "owner"
