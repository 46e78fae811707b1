"""A minimal audit trail: who did what out of the ordinary (an operator's override, say).

One row per event, never updated. A later, fuller audit log can take these rows over.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from admin.extensions import db
from admin.models.base import id_column, now_column


class AuditEvent(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "audit_events"
    id: Mapped[int] = id_column()
    at: Mapped[datetime] = now_column()
    actor: Mapped[str] = mapped_column(String(200), nullable=False)  # "operator (cli)", a user
    action: Mapped[str] = mapped_column(String(64), nullable=False)  # "domain.verify_override"
    org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    subject: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
