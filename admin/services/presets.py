"""Destination presets for CRM and donation pages: the query parameters each site reads for
attribution, filled with ``{{source}}`` (the broadcast's refcode) and ``{{contact_id}}``, so
that a donation or a signup can be traced to the message it came from.

Parameter names from /work/shared/research/crm-params.md (what each site documents). A site
with one attribution field gets the source (it knows who gave from the gift itself); one with a
second free field gets the contact's id too. The base URLs hold blanks (``your-page``) that the
organiser replaces: a destination that still holds one is warned about (``leftovers``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from admin.services.errors import ValidationError

SOURCE = "{{source|sms}}"
CONTACT = "{{contact_id}}"


@dataclass(frozen=True)
class Preset:
    label: str
    base: str  # an example page, with blanks to replace
    params: tuple[tuple[str, str], ...]

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "base": self.base, "params": dict(self.params)}


PRESETS: dict[str, Preset] = {
    "actblue": Preset(
        "ActBlue (refcode, refcode2, amount)",
        "https://secure.actblue.com/donate/your-page",
        (("refcode", SOURCE), ("refcode2", CONTACT), ("amount", "{{fields.amount|25}}")),
    ),
    "winred": Preset(
        "WinRed (sc, utm, prefill)",
        "https://secure.winred.com/your-committee/your-page",
        (("sc", SOURCE), ("utm_medium", "sms"), ("utm_content", CONTACT),
         ("firstname", "{{first_name}}"), ("lastname", "{{last_name}}"), ("email", "{{email}}"),
         ("phone", "{{phone}}")),
    ),  # fmt: skip
    "everyaction": Preset(
        "EveryAction / NGP VAN (ms)", "https://secure.everyaction.com/your-form-id",
        (("ms", SOURCE),),
    ),  # fmt: skip
    "actionnetwork": Preset(
        "Action Network (source)", "https://actionnetwork.org/forms/your-form",
        (("source", SOURCE),),
    ),  # fmt: skip
    "mobilize": Preset(
        "Mobilize (utm_*)",
        "https://www.mobilize.us/your-org/event/your-event-id/",
        (("utm_source", "sms"), ("utm_medium", "text"), ("utm_campaign", SOURCE),
         ("utm_content", CONTACT)),
    ),  # fmt: skip
    "anedot": Preset(
        "Anedot (utm, amount, prefill)",
        "https://secure.anedot.com/your-org/your-page",
        (("utm_campaign", SOURCE), ("utm_content", CONTACT), ("amount", "{{fields.amount|25}}"),
         ("first_name", "{{first_name}}"), ("last_name", "{{last_name}}"), ("email", "{{email}}"),
         ("phone", "{{phone}}"), ("postal_code", "{{fields.zip}}")),
    ),  # fmt: skip
}

# The blanks of the bases above: "your-" and words joined by hyphens.
_BLANK = re.compile(r"your-[a-z]+(?:-[a-z]+)*", re.IGNORECASE)


def apply(name: Any, destination: str) -> str:
    """``destination`` (or the preset's example page when empty) with the preset's parameters
    that it does not set already; raises ValidationError("preset") for an unknown name."""
    preset = PRESETS.get(name) if isinstance(name, str) else None
    if preset is None:
        raise ValidationError("preset", f"unknown preset: use one of {', '.join(PRESETS)}")
    url = destination.strip() or preset.base
    url, hash_, fragment = url.partition("#")
    query = url.partition("?")[2]
    present = {part.partition("=")[0] for part in query.split("&") if part}
    added = [f"{key}={value}" for key, value in preset.params if key not in present]
    if added:
        joiner = "" if url.endswith(("?", "&")) else ("&" if "?" in url else "?")
        url += joiner + "&".join(added)
    return url + hash_ + fragment


def leftovers(destination: str) -> list[str]:
    """Warnings for blanks of a preset's example page still in the destination."""
    blanks = list(dict.fromkeys(m.group(0) for m in _BLANK.finditer(destination)))
    if not blanks:
        return []
    shown = ", ".join(f"'{b}'" for b in blanks)
    return [
        f"The destination still holds {shown} from a preset's example: put your own page's "
        "address there, or people land on a page that does not exist."
    ]


def listing() -> dict[str, dict[str, Any]]:
    return {name: preset.as_dict() for name, preset in PRESETS.items()}


def with_preset(data: Mapping[str, Any]) -> dict[str, Any]:
    """A link's request body with ``preset`` applied to its destination (and removed)."""
    changes = dict(data)
    if "preset" in changes:
        name = changes.pop("preset")
        destination = changes.get("destination")
        changes["destination"] = apply(name, destination if isinstance(destination, str) else "")
    return changes
