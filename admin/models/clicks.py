"""Clicks recorded by drain, and contacts' conversation history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.orm import Mapped, mapped_column

from admin.extensions import db
from admin.models.base import id_column, now_column, org_column
from core.clicks import CLICK_KINDS, KIND_MAX, REASON_MAX, sql_list


class Click(db.Model):  # type: ignore[name-defined,misc]
    """Partitioned by month of ``at`` (sync/clicks/partitions.py): a unique key must hold the
    partition column, so the click id is unique with ``at``. A click's event carries its time,
    so a redelivered event has the same ``at`` and still conflicts."""

    __tablename__ = "clicks"
    id: Mapped[int] = id_column()
    click_id: Mapped[str] = mapped_column(String(40), nullable=False)  # edge-minted
    org_id: Mapped[int] = org_column(index=False)
    link_id: Mapped[int] = mapped_column(ForeignKey("links.id", ondelete="CASCADE"))
    domain_id: Mapped[int | None] = mapped_column(BigInteger)
    code: Mapped[str] = mapped_column(String(8), nullable=False)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    broadcast_id: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    recorded_at: Mapped[datetime] = now_column()
    kind: Mapped[str] = mapped_column(String(KIND_MAX), nullable=False)
    reason: Mapped[str] = mapped_column(String(REASON_MAX), nullable=False, server_default="")
    user_agent: Mapped[str] = mapped_column(String(512), nullable=False, server_default="")
    ip: Mapped[str | None] = mapped_column(INET)
    referer: Mapped[str] = mapped_column(String(512), nullable=False, server_default="")
    visitor_hash: Mapped[str] = mapped_column(String(64), nullable=False, server_default="")
    device: Mapped[str] = mapped_column(String(64), nullable=False, server_default="")
    os: Mapped[str] = mapped_column(String(64), nullable=False, server_default="")
    browser: Mapped[str] = mapped_column(String(64), nullable=False, server_default="")
    merge_fallback: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false")
    )
    __table_args__ = (
        CheckConstraint(f"kind in {sql_list(CLICK_KINDS)}", name="ck_clicks_kind"),
        UniqueConstraint("click_id", "at", name="clicks_click_id_key"),
        Index("ix_clicks_link_at", "link_id", "at"),
        Index("ix_clicks_link_contact", "link_id", "contact_id"),
        # What the retention job scans (sync/clicks/retention.py): clicks still holding them.
        Index(
            "ix_clicks_visitor_data",
            "org_id",
            "at",
            postgresql_where=text("ip IS NOT NULL OR user_agent <> ''"),
        ),
        # A contact's clicks, when they are deleted (admin/services/privacy.py) or exported.
        Index("ix_clicks_contact", "contact_id", postgresql_where=text("contact_id IS NOT NULL")),
        {"postgresql_partition_by": "RANGE (at)"},
    )


class HistoryEvent(db.Model):  # type: ignore[name-defined,misc]
    """A contact's conversation history: whispers, outgoing and incoming messages."""

    __tablename__ = "history_events"
    id: Mapped[int] = id_column()
    org_id: Mapped[int] = org_column(index=False)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(
        String(16), nullable=False
    )  # whisper | message_out | message_in
    body: Mapped[str] = mapped_column(Text, nullable=False)  # shown as "text" in the API
    link_id: Mapped[int | None] = mapped_column(ForeignKey("links.id", ondelete="SET NULL"))
    click_id: Mapped[str | None] = mapped_column(String(40))
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = now_column()
    __table_args__ = (
        Index("ix_history_contact_at", "contact_id", "at"),
        # A click's whisper is written once, whatever happens to the batch that carried it.
        Index(
            "uq_history_click_type",
            "click_id",
            "type",
            unique=True,
            postgresql_where=text("click_id IS NOT NULL"),
        ),
    )


# The view is made by its migration (0011_broadcast_bulk), never by create_all: its own
# metadata keeps it out of db.metadata.
_VIEWS = MetaData()


class HistoryEntry(db.Model):  # type: ignore[name-defined,misc]
    """A contact's history as it is read (a view, read-only): the history events, and each
    broadcast's outgoing message as a ``message_out`` entry. A broadcast writes no event per
    message: 1,000,000 rows that would repeat the messages' (docs/performance.md)."""

    __table__ = Table(
        "contact_history",
        _VIEWS,
        Column("origin", String(8), primary_key=True),  # 'event' | 'message': which id this is
        Column("id", BigInteger, primary_key=True),
        Column("org_id", BigInteger, nullable=False),
        Column("contact_id", BigInteger, nullable=False),
        Column("type", String(16), nullable=False),
        Column("body", Text, nullable=False),
        Column("link_id", BigInteger),
        Column("click_id", String(40)),
        Column("message_id", BigInteger),
        Column("user_id", BigInteger),
        Column("at", DateTime(timezone=True), nullable=False),
    )
    origin: Mapped[str]
    id: Mapped[int]
    org_id: Mapped[int]
    contact_id: Mapped[int]
    type: Mapped[str]
    body: Mapped[str]
    link_id: Mapped[int | None]
    click_id: Mapped[str | None]
    message_id: Mapped[int | None]
    user_id: Mapped[int | None]
    at: Mapped[datetime]


class LinkCounter(db.Model):  # type: ignore[name-defined,misc]
    """Per-link counters kept by drain in the batch's transaction, so metrics read one row."""

    __tablename__ = "link_counters"
    link_id: Mapped[int] = mapped_column(
        ForeignKey("links.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[int] = org_column(index=False)
    clicks: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    unique_clicks: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    previews: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    bots: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    updated_at: Mapped[datetime] = now_column()


class LinkContactClicks(db.Model):  # type: ignore[name-defined,misc]
    """Human clicks per (link, contact): unique clicks and the drill-down read it."""

    __tablename__ = "link_contact_clicks"
    link_id: Mapped[int] = mapped_column(
        ForeignKey("links.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[int] = org_column(index=False)
    clicks: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    first_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # The primary key starts with the link: deleting a contact finds theirs by this one.
    __table_args__ = (Index("ix_link_contact_clicks_contact", "contact_id"),)


class LinkVisitor(db.Model):  # type: ignore[name-defined,misc]
    """Distinct visitors of a generic URL: a salted daily hash of IP and user agent."""

    __tablename__ = "link_visitors"
    link_id: Mapped[int] = mapped_column(
        ForeignKey("links.id", ondelete="CASCADE"), primary_key=True
    )
    visitor_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_at: Mapped[datetime] = now_column()


class LinkSeries(db.Model):  # type: ignore[name-defined,misc]
    """Clicks per link, grain (minute, hour, day) and bucket start: what series read
    (sync/clicks/rollups.py keeps them)."""

    __tablename__ = "link_series"
    link_id: Mapped[int] = mapped_column(
        ForeignKey("links.id", ondelete="CASCADE"), primary_key=True
    )
    grain: Mapped[str] = mapped_column(String(8), primary_key=True)
    t: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    org_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    clicks: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    previews: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    bots: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")


class LinkBreakdown(db.Model):  # type: ignore[name-defined,misc]
    """Human clicks per link by device, OS and browser name."""

    __tablename__ = "link_breakdown"
    link_id: Mapped[int] = mapped_column(
        ForeignKey("links.id", ondelete="CASCADE"), primary_key=True
    )
    dimension: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    clicks: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")


class LinkBroadcastClicks(db.Model):  # type: ignore[name-defined,misc]
    """Human clicks and distinct contacts per link and broadcast."""

    __tablename__ = "link_broadcast_clicks"
    link_id: Mapped[int] = mapped_column(
        ForeignKey("links.id", ondelete="CASCADE"), primary_key=True
    )
    broadcast_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    org_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    clicks: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    unique_clicks: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")


class LinkBroadcastContact(db.Model):  # type: ignore[name-defined,misc]
    """A contact that clicked a link from a broadcast: tells their first click apart."""

    __tablename__ = "link_broadcast_contacts"
    link_id: Mapped[int] = mapped_column(
        ForeignKey("links.id", ondelete="CASCADE"), primary_key=True
    )
    broadcast_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    __table_args__ = (Index("ix_link_broadcast_contacts_contact", "contact_id"),)
