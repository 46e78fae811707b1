"""The JSON API's request and response bodies as msgspec Structs, one module per area.

A Struct only says which fields exist and their JSON types; the same Structs decode requests,
encode answers and generate the OpenAPI document (admin/api/openapi.py). Rules that need the
database or more than a type live in admin/services.
"""

from __future__ import annotations

from typing import Any, TypeVar

from msgspec import Struct

S = TypeVar("S", bound=Struct)


def from_row(struct: type[S], row: Any, **given: Any) -> S:
    """``struct`` with each field read from ``row``'s attribute of the same name, but for those
    ``given`` (fields the row names otherwise or computes)."""
    read = {name: getattr(row, name) for name in struct.__struct_fields__ if name not in given}
    return struct(**read, **given)
