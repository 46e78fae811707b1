"""The outbox that sync reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Index,
    String,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from admin.extensions import db
from admin.models.base import id_column, now_column


class SyncOutbox(db.Model):  # type: ignore[name-defined,misc]
    """Written in the same transaction as each change that Redis must learn about."""

    __tablename__ = "sync_outbox"
    id: Mapped[int] = id_column()
    entity: Mapped[str] = mapped_column(
        String(16), nullable=False
    )  # domain | link | contact | codes
    entity_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = now_column()
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        Index("ix_sync_outbox_pending", "id", postgresql_where=text("processed_at IS NULL")),
    )
