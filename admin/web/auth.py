"""Login and logout for people: Flask-Login sessions, argon2id passwords, rate-limited tries.

The session remembers ``"<user id>:<session generation>:<fingerprint of the password hash>"``
and every request checks it against the user's row: a new password, a raised generation
(logout, role change, deactivation: ``end_sessions``) or an inactive account ends every session
of that person, including copies of the cookie kept from before.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Flask, abort, flash, g, redirect, render_template, request, session
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user
from flask_login import logout_user as flask_logout_user
from sqlalchemy import select, update

from admin.extensions import db
from admin.models import Organisation, User
from admin.security import hash_password, password_needs_rehash, verify_password
from admin.services import audit, totp
from admin.web import ratelimit
from admin.web.blueprint import bp
from admin.web.clientip import client_ip
from admin.web.forms import LoginForm

ROLE_RANK = {"member": 1, "admin": 2, "owner": 3}
TOTP_PENDING = "totp_pending"  # the session key of a login that waits for its second step

login_manager = LoginManager()
login_manager.login_view = "web.login"
login_manager.login_message = "Please log in to continue."
login_manager.login_message_category = "info"


class WebUser(UserMixin):
    """The logged-in person, detached from the database session."""

    def __init__(self, user: User, org_name: str) -> None:
        self.user_id = user.id
        self.org_id = user.org_id
        self.email = user.email
        self.name = user.name
        self.role = user.role
        self.org_name = org_name
        self._session_id = session_id_for(user)

    def get_id(self) -> str:
        return self._session_id

    def has_role(self, role: str) -> bool:
        return ROLE_RANK.get(self.role, 0) >= ROLE_RANK[role]

    @property
    def display_name(self) -> str:
        return self.name or self.email


def session_id_for(user: User) -> str:
    fingerprint = hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]
    return f"{user.id}:{user.session_generation}:{fingerprint}"


def end_sessions(user_id: int) -> None:
    """End every session of the person (in the caller's transaction): the cookies they hold
    name the old generation, which no longer loads."""
    db.session.execute(
        update(User)
        .where(User.id == user_id)
        .values(session_generation=User.session_generation + 1)
    )


@login_manager.user_loader
def load_user(session_id: str) -> WebUser | None:
    user_part = session_id.partition(":")[0]
    if not user_part.isdigit() or len(user_part) > 18:
        return None
    row = db.session.execute(
        select(User, Organisation)
        .join(Organisation, Organisation.id == User.org_id)
        .where(User.id == int(user_part), User.active.is_(True))
    ).first()
    if row is None:
        return None
    user, org = row
    if session_id_for(user) != session_id:
        return None
    if totp.org_requires(org) and not user.totp_secret:
        return None  # required since they logged in: they set it up at their next login
    audit.act_as(audit.Actor(user.email, user.id, "web"))
    return WebUser(user, org.name)


def web_user() -> WebUser:
    return cast(WebUser, current_user._get_current_object())  # type: ignore[attr-defined]


def current_org_id() -> int:
    """The organisation of the logged-in person; every query of a page filters on it."""
    return web_user().org_id


F = TypeVar("F", bound=Callable[..., Any])


def role_required(role: str) -> Callable[[F], F]:
    """A page for people of at least ``role`` (member < admin < owner)."""

    def decorator(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not web_user().has_role(role):
                abort(403)
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorator


def reset_session() -> None:
    """Start a fresh session (at login and logout): no state from before survives, and the
    CSRF token is new. Flask-WTF caches the token in ``g``, which lives as long as the app
    context (one request in production, but longer under a test's pushed context)."""
    session.clear()
    g.pop("csrf_token", None)


def safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect to another host."""
    if not target:
        return "/links"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/links"
    if "\\" in target or not target.isprintable():
        return "/links"  # a control character is no path of ours (and no header may hold CR/LF)
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("login.html", form=form), (400 if form.is_submitted() else 200)

    email = (form.email.data or "").strip().lower()
    ip = client_ip()
    wait = ratelimit.blocked_for(ip, email)
    if wait:
        minutes = max(1, round(wait / 60))
        form.form_errors.append(
            f"Too many failed attempts. Try again in about {minutes} minute{'s' if minutes > 1 else ''}."
        )
        return render_template("login.html", form=form), 429

    user = db.session.scalar(select(User).where(User.email == email))
    password = form.password.data or ""
    # An unknown email is verified too (against a dummy hash), so timing does not reveal accounts.
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        ratelimit.record_failure(ip, email)
        form.form_errors.append("The email or the password is not right.")
        return render_template("login.html", form=form), 401

    ratelimit.clear(ip, email)
    if password_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = datetime.now(UTC)
    db.session.commit()
    org = db.session.get(Organisation, user.org_id)
    reset_session()
    if totp.needed_at_login(user, org):
        # Not logged in yet: admin/web/totp.py asks for a code (or sets it up) first.
        session[TOTP_PENDING] = {
            "sid": session_id_for(user),
            "at": time.time(),
            "next": safe_next(request.args.get("next")),
        }
        return redirect("/login/totp")
    login_user(WebUser(user, org.name if org else ""))
    return redirect(safe_next(request.args.get("next")))


@bp.post("/logout")
@login_required
def logout() -> Any:
    # Server-side: the signed cookie, or a copy of it, must not work after this.
    end_sessions(web_user().user_id)
    db.session.commit()
    flask_logout_user()
    reset_session()
    flash("You are logged out.", "info")
    return redirect("/login")


@bp.get("/")
def home() -> Any:
    return redirect("/links" if current_user.is_authenticated else "/login")


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    app.config.setdefault("LOGIN_MAX_FAILURES", 5)
    app.config.setdefault("LOGIN_WINDOW_SECONDS", 15 * 60)
