"""Team members, roles and invitations.

Roles: a member uses links and contacts; an admin also manages domains, API tokens and
members; an owner also manages admins and owners. An organisation always keeps an owner.
No email is sent: the inviter gets the invitation link and passes it on.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from admin.extensions import db
from admin.models import ROLES, ApiToken, Invitation, User
from admin.security import hash_password, hash_token
from admin.services import audit
from admin.services.errors import Conflict, NotFound, ServiceError, ValidationError
from admin.services.lookup import owned

INVITATION_DAYS = 7
RANK = {"member": 1, "admin": 2, "owner": 3}


class Forbidden(ServiceError):
    """The acting person's role does not allow this."""

    status = 403
    code = "forbidden"


@dataclass(frozen=True)
class NewInvitation:
    invitation: Invitation
    token: str  # the plain token, for the link shown once to the inviter


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValidationError("role", f"role must be one of {', '.join(ROLES)}")


def _may_grant(actor: User, role: str) -> None:
    """Admins manage members and admins; owners everything."""
    if RANK[actor.role] < RANK["admin"]:
        raise Forbidden("role", "only admins and owners manage the team")
    if role == "owner" and actor.role != "owner":
        raise Forbidden("role", "only an owner can make someone an owner")


def _member(org_id: int, user_id: int) -> User:
    return owned(User, org_id, user_id, "user", "no such team member")


def _owners_left(org_id: int, without: int) -> int:
    """Active owners besides ``without``. Their rows are locked until the transaction ends:
    two owners demoting (or deactivating) each other at once are served one after the other,
    and the second sees the first's change, so the organisation keeps an owner."""
    owners = db.session.scalars(
        select(User.id)
        .where(User.org_id == org_id, User.role == "owner", User.active.is_(True))
        .order_by(User.id)
        .with_for_update()
    ).all()
    return sum(1 for owner in owners if owner != without)


def members(org_id: int) -> list[User]:
    return list(
        db.session.scalars(
            select(User).where(User.org_id == org_id).order_by(User.active.desc(), User.email)
        )
    )


def pending_invitations(org_id: int) -> list[Invitation]:
    return list(
        db.session.scalars(
            select(Invitation)
            .where(
                Invitation.org_id == org_id,
                Invitation.accepted_at.is_(None),
                Invitation.expires_at > func.now(),
            )
            .order_by(Invitation.created_at.desc())
        )
    )


def invite(org_id: int, actor: User, email: str, role: str) -> NewInvitation:
    """A new invitation (replacing a pending one for the same email); the caller commits."""
    email = (email or "").strip().lower()
    if "@" not in email or len(email) > 320 or any(c.isspace() for c in email):
        raise ValidationError("email", "email must be an email address")
    _check_role(role)
    _may_grant(actor, role)
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict("email", f"{email} has an account already")
    db.session.execute(
        update(Invitation)
        .where(
            Invitation.org_id == org_id,
            Invitation.email == email,
            Invitation.accepted_at.is_(None),
        )
        .values(expires_at=func.now())
    )
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        org_id=org_id,
        email=email,
        role=role,
        token_hash=hash_token(token),
        invited_by=actor.id,
        expires_at=datetime.now(UTC) + timedelta(days=INVITATION_DAYS),
    )
    db.session.add(invitation)
    db.session.flush()
    audit.record(org_id, "team.invite", email, after={"email": email, "role": role})
    return NewInvitation(invitation=invitation, token=token)


def revoke_invitation(org_id: int, actor: User, invitation_id: int) -> None:
    _may_grant(actor, "member")
    invitation = db.session.scalar(
        select(Invitation).where(Invitation.org_id == org_id, Invitation.id == invitation_id)
    )
    if invitation is None or invitation.accepted_at is not None:
        raise NotFound("invitation", "no such pending invitation")
    invitation.expires_at = datetime.now(UTC)
    audit.record(org_id, "team.invitation_revoke", invitation.email, detail={"role": invitation.role})


def find_invitation(token: str, lock: bool = False) -> Invitation | None:
    """The pending, unexpired invitation behind a link's token (``lock``: its row locked until
    the transaction ends)."""
    if not token or len(token) > 100:
        return None
    query = select(Invitation).where(
        Invitation.token_hash == hash_token(token),
        Invitation.accepted_at.is_(None),
        Invitation.expires_at > func.now(),
    )
    if lock:
        # Several people accepting one link at once: the first takes the row, the others wait
        # and then find it accepted (a 404 for them, not a unique violation: a 500).
        query = query.with_for_update(of=Invitation)
    return db.session.scalar(query)


def accept(token: str, name: str, password: str) -> User:
    """Create the invited person's account; the caller commits."""
    invitation = find_invitation(token, lock=True)
    if invitation is None:
        raise NotFound("token", "this invitation is not valid any more")
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationError("name", "name is required (at most 200 characters)")
    if len(password or "") < 8:
        raise ValidationError("password", "password must have at least 8 characters")
    if db.session.scalar(select(User.id).where(User.email == invitation.email)) is not None:
        raise Conflict("email", f"{invitation.email} has an account already")
    user = User(
        org_id=invitation.org_id,
        email=invitation.email,
        name=name,
        role=invitation.role,
        password_hash=hash_password(password),
    )
    invitation.accepted_at = datetime.now(UTC)
    try:
        with db.session.begin_nested():  # the same email taken meanwhile through another link
            db.session.add(user)
            db.session.flush()
    except IntegrityError:
        raise Conflict("email", f"{invitation.email} has an account already") from None
    audit.record(
        user.org_id,
        "team.join",
        user.email,
        after={"email": user.email, "name": user.name, "role": user.role},
        actor=audit.Actor(user.email, user.id, "invitation"),
    )
    return user


def change_role(org_id: int, actor: User, user_id: int, role: str) -> User:
    _check_role(role)
    user = _member(org_id, user_id)
    _may_grant(actor, role)
    if user.role == "owner" and actor.role != "owner":
        raise Forbidden("role", "only an owner can change an owner's role")
    if user.role == "owner" and role != "owner" and _owners_left(org_id, user.id) == 0:
        raise ValidationError("role", "the organisation must keep at least one owner")
    if user.role != role:
        audit.record(org_id, "team.role", user.email, before={"role": user.role}, after={"role": role})
        user.role = role
        user.session_generation += 1  # their sessions end: they log in again with the new role
    return user


def set_active(org_id: int, actor: User, user_id: int, active: bool) -> User:
    """Deactivate (their sessions end at once) or reactivate a member."""
    user = _member(org_id, user_id)
    _may_grant(actor, user.role)
    if user.id == actor.id and not active:
        raise ValidationError("user", "you cannot deactivate yourself")
    if user.role == "owner" and not active and _owners_left(org_id, user.id) == 0:
        raise ValidationError("user", "the organisation must keep at least one owner")
    audit.record(
        org_id,
        "team.activate" if active else "team.deactivate",
        user.email,
        before={"active": user.active},
        after={"active": active},
    )
    user.active = active
    if not active:
        # Ended for good, even if they are reactivated later: their sessions and their tokens.
        user.session_generation += 1
        db.session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
    return user


def acting_user(org_id: int, user_id: int) -> User:
    return _member(org_id, user_id)
