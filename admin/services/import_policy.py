"""What an import does with a phone that is already a contact, where its contacts go (a list,
tags), and which bad cells cost only themselves rather than the whole row.

A phone is who a contact is (the unique key, the number texts go to), so a bad phone rejects
the row; a bad name, email or custom field is dropped from the row with a warning, and the rest
of the row is imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from admin.services import contacts, inputs, memberships
from admin.services.errors import ServiceError, ValidationError

# A contact the file would give more than MAX_FIELDS fields is left as it is (and reported).
_FITS = (
    "\n        WHERE (SELECT count(*) FROM jsonb_object_keys(contacts.fields || EXCLUDED.fields)) <= "
    f"{contacts.MAX_FIELDS}"
)


def _merge(wins: str, fills: str) -> str:
    """The ON CONFLICT clause that keeps ``wins``'s non-empty names and email (``fills``'s
    where they are empty) and merges custom fields, ``wins``'s over ``fills``'s, unless the
    contact would end with more than MAX_FIELDS fields."""
    names = "".join(
        f"\n            {c} = COALESCE(NULLIF({wins}.{c}, ''), {fills}.{c}),"
        for c in ("first_name", "last_name", "email")
    )
    return f"""DO UPDATE SET{names}
            fields = {fills}.fields || {wins}.fields,
            version = EXCLUDED.version,
            updated_at = now()""" + _FITS


# The ON CONFLICT clause of each policy (constants: never built from input).
DUPLICATES = {
    # The file wins: non-empty cells replace the contact's values, custom fields merge.
    "update": _merge("EXCLUDED", "contacts"),
    # The contact is left exactly as it is.
    "skip": "DO NOTHING",
    # Both kept: the contact's values stay, the file only fills what is empty or missing.
    "keep": _merge("contacts", "EXCLUDED"),
}
DUPLICATE_LABELS = {
    "update": "Update them with the file's values",
    "skip": "Skip them: leave those contacts as they are",
    "keep": "Keep both: keep their values, add only what they lack",
}
MAX_TAGS = 20


@dataclass(frozen=True)
class ImportOptions:
    duplicates: str = "update"
    list_name: str = ""
    tags: tuple[str, ...] = ()


def options(duplicates: Any = "update", list_name: Any = "", tags: Any = "") -> ImportOptions:
    """Checked options; raises ValidationError naming the field. ``tags`` is comma separated
    text or a list of names."""
    if duplicates not in DUPLICATES:
        raise ValidationError("duplicates", f"duplicates is one of {', '.join(DUPLICATES)}")
    name = memberships.name("list", list_name) if list_name else ""
    given = tags.split(",") if isinstance(tags, str) else tags
    if not isinstance(given, Sequence) or len(given) > MAX_TAGS:
        raise ValidationError("tags", f"at most {MAX_TAGS} tags, separated by commas")
    names = tuple(dict.fromkeys(memberships.name("tags", t) for t in given if str(t).strip()))
    return ImportOptions(duplicates, name, names)


@dataclass
class RowResult:
    values: dict[str, Any]
    dropped: list[ServiceError] = field(default_factory=list)


def row_values(row: list[str], builtin: dict[str, int], custom: dict[str, int]) -> RowResult:
    """One row's contact values; a bad phone raises (the row is rejected), any other bad cell
    is left out and reported."""

    def cell(index: int) -> str:
        return row[index] if index < len(row) else ""

    result = RowResult({"phone": contacts.normalize_phone(cell(builtin["phone"]))})
    checks = {
        "first_name": lambda v: inputs.text("first_name", v, 200),
        "last_name": lambda v: inputs.text("last_name", v, 200),
        "email": contacts.email,
    }
    for name, check in checks.items():
        result.values[name] = ""
        if name in builtin:
            try:
                result.values[name] = check(cell(builtin[name]))
            except ServiceError as exc:
                result.dropped.append(exc)
    fields: dict[str, str] = {}
    for name, index in custom.items():
        try:
            value = contacts.field_value(name, cell(index), f"fields.{name}")
        except ServiceError as exc:
            result.dropped.append(exc)
            continue
        if value:  # an empty cell leaves the field as it is
            fields[name] = value
    result.values["fields"] = fields
    return result


def too_wide() -> dict[str, Any]:
    """The error entry of a row whose contact would get more fields than a contact may have."""
    return {
        "field": "fields",
        "message": f"with this row's fields the contact would have more than "
        f"{contacts.MAX_FIELDS}; it was left as it is",
    }
