"""Bearer-token authentication: the token's organisation scopes every query of the request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import g, request
from sqlalchemy import and_, or_, select, update

from admin.api import limits
from admin.api.errors import ApiError
from admin.extensions import db
from admin.models import ApiToken, User
from admin.security import hash_token
from admin.services import audit

PUBLIC_ENDPOINTS = {"api.openapi"}


def require_token() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "send an API token as 'Authorization: Bearer <token>'")
    # A person's token works while the person is an active member: deactivating (or deleting)
    # them ends their tokens with their sessions. A token of no person (user_id NULL: made by
    # the operator, `org create`, or a seed) belongs to the organisation itself.
    row = db.session.execute(
        select(
            ApiToken.id,
            ApiToken.org_id,
            ApiToken.user_id,
            ApiToken.last_used_at,
            ApiToken.prefix,
            User.email,
        )
        .outerjoin(User, User.id == ApiToken.user_id)
        .where(
            ApiToken.token_hash == hash_token(token.strip()),
            ApiToken.revoked_at.is_(None),
            or_(
                ApiToken.user_id.is_(None),
                and_(User.active.is_(True), User.org_id == ApiToken.org_id),
            ),
        )
    ).first()
    if row is None:
        raise ApiError(401, "unauthorized", "the API token is not valid")
    g.org_id = row.org_id
    g.user_id = row.user_id
    g.token_id = row.id
    # The audit log's "who": the token's person, else the organisation's own token.
    label = row.email or "the organisation's token"
    audit.act_as(audit.Actor(label, row.user_id, f"API token {row.prefix}…"))
    limits.admit(row.id, row.org_id)
    now = datetime.now(UTC)
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=5):
        db.session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
        db.session.commit()


def org_id() -> int:
    """The organisation of the current request; every query filters on it."""
    return int(g.org_id)
