"""Organisations, their first owner and API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from admin.errors import BadValue
from admin.extensions import db
from admin.models import ApiToken, Organisation, User
from admin.security import hash_password, new_api_token
from admin.services import audit


class OrgError(BadValue):
    """An organisation or its owner that cannot be created as given."""


@dataclass(frozen=True)
class NewOrg:
    org_id: int
    user_id: int
    api_token: str


def create_org(name: str, email: str, password: str) -> NewOrg:
    """An organisation, its owner and a first API token (the plain token is returned once)."""
    name = (name or "").strip()
    email = (email or "").strip().lower()
    if not name:
        raise OrgError("name", "name is required")
    if "@" not in email or len(email) > 320:
        raise OrgError("email", "email must be an email address")
    if len(password or "") < 8:
        raise OrgError("password", "password must have at least 8 characters")
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise OrgError("email", f"a user with email {email} exists already")
    org = Organisation(name=name)
    db.session.add(org)
    db.session.flush()
    user = User(
        org_id=org.id, email=email, password_hash=hash_password(password), role="owner", name=name
    )
    db.session.add(user)
    db.session.flush()
    token = issue_api_token(org.id, user.id, "created with the organisation")
    db.session.commit()
    return NewOrg(org_id=org.id, user_id=user.id, api_token=token)


def issue_api_token(org_id: int, user_id: int | None, name: str) -> str:
    """Store a new token's hash in the caller's transaction and return the plain token."""
    token, prefix, token_hash = new_api_token()
    db.session.add(
        ApiToken(org_id=org_id, user_id=user_id, name=name, prefix=prefix, token_hash=token_hash)
    )
    owner = db.session.scalar(select(User.email).where(User.id == user_id)) if user_id else None
    audit.record(
        org_id,
        "token.create",
        f"{prefix}…",
        after={"name": name, "prefix": prefix, "person": owner},
    )
    return token


def revoke_api_token(org_id: int, token_id: int) -> ApiToken | None:
    """Revoke one of the organisation's tokens (in the caller's transaction); None when it has
    no such token. Revoking twice changes nothing."""
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.org_id == org_id, ApiToken.id == token_id)
    )
    if token is not None and token.revoked_at is None:
        token.revoked_at = datetime.now(UTC)
        audit.record(org_id, "token.revoke", f"{token.prefix}…", detail={"name": token.name})
    return token
