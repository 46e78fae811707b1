"""Advice shown when a link is saved: things that work but hurt delivery or the preview card."""

from __future__ import annotations

from urllib.parse import urlsplit

# Carriers filter public shorteners (CTIA guidance; AT&T blocks them outright).
PUBLIC_SHORTENERS = frozenset(
    {
        "bit.ly", "bitly.com", "j.mp", "tinyurl.com", "goo.gl", "ow.ly", "t.ly", "is.gd",
        "v.gd", "cutt.ly", "rebrand.ly", "rb.gy", "buff.ly", "shorturl.at", "tiny.cc",
        "t.co", "lnkd.in", "s.id", "shorte.st", "adf.ly", "bl.ink", "short.io", "soo.gd",
        "qr.ae", "x.co", "po.st", "mcaf.ee", "su.pr", "trib.al", "dlvr.it", "ift.tt",
        "tiny.one", "clck.ru", "rotf.lol", "urlz.fr", "kutt.it", "surl.li", "linktr.ee",
    }
)  # fmt: skip
IMESSAGE_MIN_WIDTH = 900  # narrower images show as a small thumbnail, not a large card
IMESSAGE_TITLE_CHARS = 44  # longer titles are cut off in the card


def shortener_of(destination: str) -> str | None:
    """The public shortener a destination points at, if any."""
    try:
        host = (urlsplit(destination.split("{{", 1)[0]).hostname or "").lower().rstrip(".")
    except ValueError:
        return None
    host = host.removeprefix("www.")
    return host if host in PUBLIC_SHORTENERS else None


def link_warnings(
    destination: str, title: str, image_width: int | None, has_image: bool
) -> list[str]:
    found = []
    shortener = shortener_of(destination)
    if shortener:
        found.append(
            f"The destination is on {shortener}, a public shortener: carriers filter such "
            "links. Use the final URL instead."
        )
    if len(title) > IMESSAGE_TITLE_CHARS:
        found.append(
            f"The title has {len(title)} characters; iMessage shows about {IMESSAGE_TITLE_CHARS}."
        )
    if has_image and image_width is not None and image_width < IMESSAGE_MIN_WIDTH:
        found.append(
            f"The image is {image_width} px wide; iMessage shows a large card only from "
            f"{IMESSAGE_MIN_WIDTH} px, otherwise a small thumbnail."
        )
    return found
