"""Domains, links, their preview images and issued codes."""

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
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from admin.extensions import db
from admin.models.base import id_column, now_column, org_column


class Domain(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "domains"
    id: Mapped[int] = id_column()
    org_id: Mapped[int] = org_column()
    # Several organisations may claim a hostname; one may hold it verified (docs/decisions/0007).
    hostname: Mapped[str] = mapped_column(String(253), nullable=False)
    fallback_url: Mapped[str | None] = mapped_column(Text)
    verification_token: Mapped[str] = mapped_column(
        String(64), nullable=False, server_default=text("md5(random()::text)")
    )
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    verified_via: Mapped[str] = mapped_column(String(16), nullable=False, server_default="")
    dns_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dns_lost_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(
        BigInteger, nullable=False, server_default=text("nextval('record_versions')")
    )
    created_at: Mapped[datetime] = now_column()
    __table_args__ = (
        UniqueConstraint("org_id", "hostname", name="uq_domains_org_hostname"),
        Index(
            "uq_domains_verified_hostname",
            "hostname",
            unique=True,
            postgresql_where=text("verified_at IS NOT NULL"),
        ),
    )

    @property
    def status(self) -> str:
        """pending (serves nothing), verified, or lost (verified, but DNS moved away)."""
        if self.verified_at is None:
            return "pending"
        return "lost" if self.dns_lost_at is not None else "verified"


class Upload(db.Model):  # type: ignore[name-defined,misc]
    """A preview image, stored by the app and served at a public URL for og:image."""

    __tablename__ = "uploads"
    id: Mapped[int] = id_column()
    org_id: Mapped[int] = org_column()
    public_id: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    content_type: Mapped[str] = mapped_column(String(32), nullable=False)
    width: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    height: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = now_column()


class Link(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "links"
    id: Mapped[int] = id_column()
    org_id: Mapped[int] = org_column()
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, server_default="")
    destination: Mapped[str] = mapped_column(Text, nullable=False)
    extension: Mapped[str] = mapped_column(String(64), nullable=False, server_default="")
    preview_title: Mapped[str] = mapped_column(String(300), nullable=False, server_default="")
    preview_description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    preview_image_url: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    preview_upload_id: Mapped[int | None] = mapped_column(
        ForeignKey("uploads.id", ondelete="SET NULL")
    )
    actions: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, nullable=False, server_default="[]"
    )
    archived: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    # After it the edge answers like an archived link (the fallback or 410); NULL: never.
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # One folder per link, for people to group links ("" is no folder).
    folder: Mapped[str] = mapped_column(String(100), nullable=False, server_default="")
    version: Mapped[int] = mapped_column(
        BigInteger, nullable=False, server_default=text("nextval('record_versions')")
    )
    created_at: Mapped[datetime] = now_column()
    updated_at: Mapped[datetime] = now_column()
    domain: Mapped[Domain] = relationship(lazy="joined")


class IssuedCode(db.Model):  # type: ignore[name-defined,misc]
    """One code per (link, contact) and per (link, contact, source); a link's generic code has
    no contact. ``source``: the refcode of the broadcast that issued it, for a destination
    with ``{{source}}`` (the edge merges it from the code, docs/sending.md)."""

    __tablename__ = "issued_codes"
    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    # No foreign key on org_id and link_id: one parent row for a whole broadcast's codes,
    # checked once instead of per code; ON DELETE CASCADE is a trigger on the parents
    # (migration 0011_broadcast_bulk).
    org_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    link_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    source: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = now_column()
    __table_args__ = (
        # One index for both: its (link_id, contact_id) prefix serves every lookup by link.
        UniqueConstraint(
            "link_id",
            "contact_id",
            "source",
            name="uq_issued_codes_link_contact",
            postgresql_nulls_not_distinct=True,
        ),
        Index(
            "uq_issued_codes_generic",
            "link_id",
            unique=True,
            postgresql_where=text("contact_id IS NULL"),
        ),
        Index("ix_issued_codes_contact", "contact_id"),
    )
