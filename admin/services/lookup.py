"""Fetching one of the organisation's rows by id: the lookup every service's ``get_*`` shares."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select

from admin.extensions import db
from admin.services.errors import NotFound
from admin.services.inputs import is_id

Row = TypeVar("Row")


def owned(model: type[Row], org_id: int, row_id: int, field: str | None, message: str) -> Row:
    """The row of ``model`` with this id in the organisation, else NotFound naming ``field``.

    Another organisation's row is not found either, so ids cannot be probed across
    organisations; an id Postgres cannot hold is simply no such row."""
    table: Any = model
    found = is_id(row_id) and db.session.scalar(
        select(table).where(table.id == row_id, table.org_id == org_id)
    )
    if not found:
        raise NotFound(field, message)
    return found  # type: ignore[no-any-return]
