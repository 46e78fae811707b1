"""Message bodies: plain-text merge of ``{{link}}`` and contact fields.

Unlike a destination URL (core/merge.py), a body is text read by a person, so merged values are
inserted as they are, never percent-encoded. Placeholders: ``{{link}}`` (the contact's own short
URL), ``{{first_name}}``, ``{{last_name}}``, ``{{phone}}``, ``{{email}}``, ``{{fields.NAME}}``,
each but ``link`` with an optional default after ``|`` (``{{first_name|friend}}``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.merge import scan_placeholders

MAX_BODY_LENGTH = 1600  # ten GSM-7 parts; carriers reject or split longer texts
BUILTIN_NAMES = ("first_name", "last_name", "phone", "email")
LINK = "link"
_FIELD_NAME = re.compile(r"^fields\.[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$")
# Postgres refuses NUL, lone surrogates cannot be stored, other control characters have no place
# in a text message (tab, line breaks and form feed may stay).
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ud800-\udfff]")


class BodyError(ValueError):
    """A body that cannot be sent; the message says what is wrong and where."""


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    default: str


@dataclass(frozen=True, slots=True)
class Body:
    source: str
    parts: tuple[str | Field, ...]

    @property
    def has_link(self) -> bool:
        return any(isinstance(p, Field) and p.name == LINK for p in self.parts)

    def render(self, contact: Mapping[str, Any], link_url: str = "") -> str:
        """The text for one contact: a mapping with first_name, ..., and ``fields`` (a dict)."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif part.name == LINK:
                out.append(link_url)
            else:
                out.append(_lookup(contact, part.name) or part.default)
        return "".join(out)

    @property
    def uses_contact(self) -> bool:
        """True when the text differs from contact to contact beyond its link."""
        return any(isinstance(p, Field) and p.name != LINK for p in self.parts)

    @property
    def uses_fields(self) -> bool:
        return any(isinstance(p, Field) and p.name.startswith("fields.") for p in self.parts)

    def row_renderer(
        self, columns: Mapping[str, int], fields_column: int
    ) -> Callable[[Sequence[Any], str], str]:
        """``render`` for rows of a query (no dict per contact: a broadcast may render
        100,000): ``columns`` gives the index of first_name, last_name, phone and email,
        ``fields_column`` the index of the fields dict."""
        ops: list[tuple[int, Any, str]] = []
        for part in self.parts:
            if isinstance(part, str):
                ops.append((0, part, ""))
            elif part.name == LINK:
                ops.append((1, None, ""))
            elif part.name.startswith("fields."):
                ops.append((2, part.name[7:], part.default))
            else:
                ops.append((3, columns[part.name], part.default))

        def render(row: Sequence[Any], link_url: str) -> str:
            out: list[str] = []
            for kind, key, default in ops:
                if kind == 0:
                    out.append(key)
                elif kind == 1:
                    out.append(link_url)
                elif kind == 2:
                    value = (row[fields_column] or {}).get(key)
                    out.append(str(value) if value not in (None, "") else default)
                else:
                    out.append(row[key] or default)
            return "".join(out)

        return render


def _lookup(contact: Mapping[str, Any], name: str) -> str:
    if name.startswith("fields."):
        fields = contact.get("fields") or {}
        value = fields.get(name[7:])
    else:
        value = contact.get(name)
    return "" if value is None else str(value)


def parse_body(source: object) -> Body:
    """Parse and check a body; raises BodyError naming the problem."""
    if not isinstance(source, str):
        raise BodyError("body must be a string")
    if not source.strip():
        raise BodyError("body is empty")
    if len(source) > MAX_BODY_LENGTH:
        raise BodyError(f"body is longer than {MAX_BODY_LENGTH} characters")
    bad = _FORBIDDEN.search(source)
    if bad:
        raise BodyError(f"a control character at character {bad.start() + 1}")
    parts: list[str | Field] = []
    for piece in scan_placeholders(source, BodyError):
        if isinstance(piece, str):
            if piece:
                parts.append(piece)
            continue
        inner, start = piece
        name, bar, default = inner.partition("|")
        name = name.strip()
        if name == LINK and bar:
            raise BodyError("{{link}} takes no default")
        if name != LINK and name not in BUILTIN_NAMES and not _FIELD_NAME.match(name):
            raise BodyError(
                f"unknown placeholder {{{{{name}}}}} at character {start + 1}: use link, "
                "first_name, last_name, phone, email or fields.NAME"
            )
        parts.append(Field(name, default))
    return Body(source=source, parts=tuple(parts))
