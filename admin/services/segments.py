"""SMS segment counting: how many parts a text costs, as carriers bill it.

A text that fits the GSM 03.38 alphabet travels as GSM-7: 160 septets in one part, or 153 per
part once it needs several (the other 7 carry the concatenation header). Characters of the
extension table (``^ { } \\ [ ~ ] | €`` and form feed) take two septets, and a part never splits
one. Any other character forces UCS-2 for the whole text: 70 UTF-16 code units in one part, or 67
per part, and a part never splits a surrogate pair (an emoji is two units).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = "\f^{}\\[~]|€"

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67

_NOT_GSM7 = re.compile("[^" + re.escape(GSM7_BASIC + GSM7_EXTENDED) + "]")
_GSM7_EXTENDED = re.compile("[" + re.escape(GSM7_EXTENDED) + "]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True, slots=True)
class SegmentCount:
    encoding: Encoding
    segments: int
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    per_segment: int  # the limit of one part at this length: 160/153 or 70/67

    def as_dict(self) -> dict[str, object]:
        return {
            "encoding": self.encoding,
            "segments": self.segments,
            "units": self.units,
            "per_segment": self.per_segment,
        }


def encoding_of(text: str) -> Encoding:
    return "UCS-2" if _NOT_GSM7.search(text) else "GSM-7"


def count(text: str) -> SegmentCount:
    """The encoding and number of parts of ``text``."""
    if encoding_of(text) == "GSM-7":
        units = len(text) + len(_GSM7_EXTENDED.findall(text))
        if units <= GSM7_SINGLE:
            return SegmentCount("GSM-7", 1 if units else 0, units, GSM7_SINGLE)
        widths = [2 if ch in GSM7_EXTENDED else 1 for ch in text]
        return SegmentCount("GSM-7", _parts(widths, GSM7_PART), units, GSM7_PART)
    units = len(text) + len(_ASTRAL.findall(text))
    if units <= UCS2_SINGLE:
        return SegmentCount("UCS-2", 1, units, UCS2_SINGLE)
    widths = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return SegmentCount("UCS-2", _parts(widths, UCS2_PART), units, UCS2_PART)


def _parts(widths: list[int], size: int) -> int:
    """Greedy packing in which no character is cut between two parts."""
    parts, used = 1, 0
    for w in widths:
        if used + w > size:
            parts += 1
            used = 0
        used += w
    return parts
