"""Outbound: click webhooks, broadcasts, messages, library actions, and contact import jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from admin.extensions import db
from admin.models.base import id_column, now_column, org_column


class Webhook(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "webhooks"
    id: Mapped[int] = id_column()
    org_id: Mapped[int] = org_column()
    url: Mapped[str] = mapped_column(Text, nullable=False)
    secret: Mapped[str] = mapped_column(Text, nullable=False)  # HMAC key, encrypted: sync.crypto
    description: Mapped[str] = mapped_column(String(200), nullable=False, server_default="")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    created_at: Mapped[datetime] = now_column()


class WebhookDelivery(db.Model):  # type: ignore[name-defined,misc]
    """One click for one endpoint: its own queue, so a slow endpoint never slows drain."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = id_column()
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    org_id: Mapped[int] = org_column(index=False)
    click_id: Mapped[str] = mapped_column(String(40), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    next_attempt_at: Mapped[datetime] = now_column()
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_column()
    __table_args__ = (
        UniqueConstraint("webhook_id", "click_id", name="uq_webhook_deliveries_click"),
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )


class Broadcast(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "broadcasts"
    id: Mapped[int] = id_column()
    org_id: Mapped[int] = org_column()
    link_id: Mapped[int | None] = mapped_column(ForeignKey("links.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text, nullable=False)
    audience: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="queued")
    total: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    skipped: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = now_column()
    send_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    quiet_hours: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    canceled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(64), nullable=False, server_default="")


class LibraryAction(db.Model):  # type: ignore[name-defined,misc]
    """A saved reply holding a smart link; sent from a conversation or fired by a keyword."""

    __tablename__ = "library_actions"
    id: Mapped[int] = id_column()
    org_id: Mapped[int] = org_column()
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    link_id: Mapped[int | None] = mapped_column(ForeignKey("links.id", ondelete="SET NULL"))
    keyword: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = now_column()
    __table_args__ = (
        Index(
            "uq_library_actions_keyword",
            "org_id",
            "keyword",
            unique=True,
            postgresql_where=text("keyword IS NOT NULL"),
        ),
    )


class Message(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "messages"
    id: Mapped[int] = id_column()
    # No foreign key on org_id, broadcast_id and link_id: one parent row for a whole broadcast,
    # checked once per broadcast instead of per message; their ON DELETE actions (CASCADE,
    # CASCADE, SET NULL) are triggers on the parents (migration 0011_broadcast_bulk).
    org_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    broadcast_id: Mapped[int | None] = mapped_column(BigInteger)
    library_action_id: Mapped[int | None] = mapped_column(
        ForeignKey("library_actions.id", ondelete="SET NULL")
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    link_id: Mapped[int | None] = mapped_column(BigInteger)
    direction: Mapped[str] = mapped_column(String(4), nullable=False, server_default="out")
    to_phone: Mapped[str] = mapped_column(String(16), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    segments: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    encoding: Mapped[str] = mapped_column(String(8), nullable=False, server_default="GSM-7")
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="queued")
    provider: Mapped[str] = mapped_column(String(32), nullable=False, server_default="outbox")
    provider_message_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    error: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    created_at: Mapped[datetime] = now_column()
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = now_column()
    # A retry's earliest time (NULL: due now); set when a provider asked us to come back later.
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # An opt-out confirmation or HELP answer: the one kind sent to an opted-out contact.
    compliance: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    # Set (and committed) before the provider call: a restarted sender reconciles with the
    # provider instead of sending again.
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        Index("ix_messages_broadcast", "broadcast_id"),
        # Every query of a contact's messages names the contact (and a contact has one org).
        Index("ix_messages_contact", "contact_id", "created_at"),
        # Looked up by value only: a queued message has none, and needs no entry.
        Index(
            "ix_messages_provider_message_id",
            "provider_message_id",
            postgresql_where=text("provider_message_id IS NOT NULL"),
        ),
        Index("ix_messages_queued", "id", postgresql_where=text("status = 'queued'")),
    )


class ImportJob(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "import_jobs"
    id: Mapped[int] = id_column()
    org_id: Mapped[int] = org_column()
    filename: Mapped[str] = mapped_column(String(255), nullable=False, server_default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="queued")
    total_rows: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    processed_rows: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    imported_rows: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default="[]")
    # The file's header row: the CSV of rejected rows starts with it.
    header: Mapped[list[str]] = mapped_column(JSONB, nullable=False, server_default="[]")
    created_at: Mapped[datetime] = now_column()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
