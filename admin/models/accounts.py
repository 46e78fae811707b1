"""Organisations, people and API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from admin.extensions import db
from admin.models.base import id_column, now_column, org_column


class Organisation(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "organisations"
    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # Salt of the daily visitor hash for unique clicks on generic (contact-less) URLs.
    visitor_salt: Mapped[str] = mapped_column(
        String(64), nullable=False, server_default=text("md5(random()::text)")
    )
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    # Clicks older than this keep their counts but lose IP address and user agent
    # (sync/clicks/retention.py, run by the drain).
    click_retention_days: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("90")
    )
    created_at: Mapped[datetime] = now_column()
    __table_args__ = (
        CheckConstraint(
            "click_retention_days BETWEEN 1 AND 3650", name="ck_organisations_click_retention"
        ),
    )


class User(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "users"
    id: Mapped[int] = id_column()
    org_id: Mapped[int] = org_column()
    email: Mapped[str] = mapped_column(String(320), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, server_default="")
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)  # argon2id
    role: Mapped[str] = mapped_column(String(16), nullable=False, server_default="member")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    created_at: Mapped[datetime] = now_column()
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # In every session's id (admin/web/auth.py): raising it ends all of the person's sessions.
    session_generation: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    # Two-factor sign-in (admin/services/totp.py): the secret, encrypted; the last step used.
    totp_secret: Mapped[str | None] = mapped_column(Text)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # The IANA zone this person sees times in; NULL follows the organisation's.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    __table_args__ = (CheckConstraint("role in ('owner','admin','member')", name="ck_users_role"),)


class Invitation(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "invitations"
    id: Mapped[int] = id_column()
    org_id: Mapped[int] = org_column()
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    invited_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = now_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiToken(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "api_tokens"
    id: Mapped[int] = id_column()
    org_id: Mapped[int] = org_column()
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200), nullable=False, server_default="")
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)  # shown in lists, not secret
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)  # sha256 hex
    created_at: Mapped[datetime] = now_column()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
