"""Shared pieces of the Postgres model: the source of truth for everything Redis holds.

Every row that belongs to an organisation carries ``org_id`` so that every query can be
scoped to the caller's organisation. Rows that sync publishes to Redis (domains, links,
contacts) carry a ``version`` drawn from one sequence, so a newer write always has a larger
version than any older one, across deletes and re-creates.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Sequence, func
from sqlalchemy.orm import Mapped, mapped_column

from admin.extensions import db

record_versions = Sequence("record_versions", metadata=db.metadata)

ROLES = ("owner", "admin", "member")


def now_column() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


def id_column() -> Mapped[int]:
    """The row's own id (a bigint primary key)."""
    return mapped_column(BigInteger, primary_key=True)


def org_column(*, index: bool = True) -> Mapped[int]:
    """``org_id``: the organisation the row belongs to, gone with it. ``index=False`` where an
    index that starts with org_id serves already."""
    return mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=index)
