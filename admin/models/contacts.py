"""Contacts, tags and contact lists."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from admin.extensions import db
from admin.models.base import id_column, now_column, org_column


class Contact(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "contacts"
    id: Mapped[int] = id_column()
    org_id: Mapped[int] = org_column(index=False)
    phone: Mapped[str] = mapped_column(String(16), nullable=False)  # E.164
    first_name: Mapped[str] = mapped_column(String(200), nullable=False, server_default="")
    last_name: Mapped[str] = mapped_column(String(200), nullable=False, server_default="")
    email: Mapped[str] = mapped_column(String(320), nullable=False, server_default="")
    fields: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, server_default="{}")
    opted_out: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    version: Mapped[int] = mapped_column(
        BigInteger, nullable=False, server_default=text("nextval('record_versions')")
    )
    created_at: Mapped[datetime] = now_column()
    updated_at: Mapped[datetime] = now_column()
    __table_args__ = (UniqueConstraint("org_id", "phone", name="uq_contacts_org_phone"),)


class Tag(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "tags"
    id: Mapped[int] = id_column()
    org_id: Mapped[int] = org_column(index=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_tags_org_name"),)


class ContactTag(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "contact_tags"
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(
        ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ContactList(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "contact_lists"
    id: Mapped[int] = id_column()
    org_id: Mapped[int] = org_column(index=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_lists_org_name"),)


class ListMember(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "list_members"
    list_id: Mapped[int] = mapped_column(
        ForeignKey("contact_lists.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
