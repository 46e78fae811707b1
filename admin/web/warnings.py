"""Advice shown when a link is saved: things that work but hurt delivery or the preview card."""

from __future__ import annotations

from admin.services.compliance import PUBLIC_SHORTENERS, destination_warnings, shortener_of

__all__ = ["PUBLIC_SHORTENERS", "link_warnings", "shortener_of"]

IMESSAGE_MIN_WIDTH = 900  # narrower images show as a small thumbnail, not a large card
IMESSAGE_TITLE_CHARS = 44  # longer titles are cut off in the card


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
    found.extend(destination_warnings(destination))
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
