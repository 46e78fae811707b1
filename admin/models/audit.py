"""The audit log (admin/services/audit.py writes it): who changed what and when, with the
values before and after (a secret only as "changed").

One row per event, never updated, written in the transaction of the change it describes.
``kind`` is the part of ``action`` before the dot ("link" of "link.update"): what owners
filter on. ``actor`` is text, so the event still says who after the person is deleted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from admin.extensions import db
from admin.models.base import id_column, now_column


class AuditEvent(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "audit_events"
    id: Mapped[int] = id_column()
    at: Mapped[datetime] = now_column()
    actor: Mapped[str] = mapped_column(String(200), nullable=False)  # "operator (cli)", a user
    actor_user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(32), nullable=False, server_default="")
    action: Mapped[str] = mapped_column(String(64), nullable=False)  # "domain.verify_override"
    org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    subject: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    __table_args__ = (
        # The owners' page: newest first, all kinds or one.
        Index("ix_audit_events_org_id_id", "org_id", "id"),
        Index("ix_audit_events_org_kind_id", "org_id", "kind", "id"),
    )
