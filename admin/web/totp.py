"""Pages of two-factor sign-in (admin/services/totp.py): the login's second step (or its set-up
when the organisation requires it), and the account page where a person turns it on or off
and an owner requires it of the organisation.

The login's first step leaves ``session[TOTP_PENDING]``: the session id the person would get
(so that a password change or a logout elsewhere voids it) and when. Wrong codes count against
the login rate limit like wrong passwords.
"""

from __future__ import annotations

import time
from typing import Any

from flask import flash, redirect, render_template, request, session
from flask_login import login_required, login_user

from admin.extensions import db
from admin.models import Organisation, User
from admin.services import totp
from admin.web import ratelimit
from admin.web.auth import (
    TOTP_PENDING,
    WebUser,
    reset_session,
    session_id_for,
    web_user,
)
from admin.web.blueprint import bp
from admin.web.clientip import client_ip
from admin.web.forms import TotpForm

PENDING_SECONDS = 300
ENROLL = "totp_enroll"  # a secret being set up, until a code proves the app holds it


def _pending_user() -> User | None:
    pending = session.get(TOTP_PENDING)
    if not isinstance(pending, dict) or time.time() - float(pending.get("at", 0)) > PENDING_SECONDS:
        return None
    user_part = str(pending.get("sid", "")).partition(":")[0]
    if not user_part.isdigit():
        return None
    user = db.session.get(User, int(user_part))
    if user is None or not user.active or session_id_for(user) != pending.get("sid"):
        return None
    return user


def _enroll_secret() -> str:
    secret = session.get(ENROLL)
    if not isinstance(secret, str) or not secret:
        secret = session[ENROLL] = totp.new_secret()
    return secret


@bp.route("/login/totp", methods=["GET", "POST"])
def login_totp() -> Any:
    user = _pending_user()
    if user is None:
        session.pop(TOTP_PENDING, None)
        flash("Please log in again.", "info")
        return redirect("/login")
    form = TotpForm()
    enrolling = not user.totp_secret  # the organisation requires it: set it up now
    secret = _enroll_secret() if enrolling else ""
    status = 200
    if form.validate_on_submit():
        ip = client_ip()
        if ratelimit.blocked_for(ip, user.email):
            form.form_errors.append("Too many failed attempts. Try again later.")
            status = 429
        else:
            code = form.code.data or ""
            ok = totp.enable(user, secret, code) if enrolling else totp.verify(user, code)
            if ok:
                db.session.commit()
                ratelimit.clear(ip, user.email)
                target = str(session[TOTP_PENDING].get("next") or "/links")
                org = db.session.get(Organisation, user.org_id)
                reset_session()
                login_user(WebUser(user, org.name if org else ""))
                return redirect(target)
            db.session.rollback()
            ratelimit.record_failure(ip, user.email)
            form.code.errors.append("That code is not right (or was used already).")
            status = 401
    elif form.is_submitted():
        status = 400
    return render_template(
        "totp.html",
        mode="enroll" if enrolling else "verify",
        form=form,
        secret=secret,
        uri=totp.provisioning_uri(secret, user.email) if enrolling else "",
    ), status


@bp.route("/account/totp", methods=["GET", "POST"])
@login_required
def account_totp() -> Any:
    me = web_user()
    user = db.session.get(User, me.user_id)
    org = db.session.get(Organisation, me.org_id)
    assert user is not None and org is not None
    form = TotpForm()
    action = request.form.get("action", "")
    status = 200
    if action == "require" and form.is_submitted():
        if not me.has_role("owner") or not form.validate():
            return "Forbidden", 403
        wanted = request.form.get("required") == "1"
        if wanted and not user.totp_secret:
            form.form_errors.append("Turn it on for yourself first.")
            status = 400
        else:
            totp.set_required(org, wanted)
            db.session.commit()
            flash("Two-factor sign-in is " + ("required" if wanted else "optional") + ".", "info")
            return redirect("/account/totp")
    elif form.validate_on_submit():
        code = form.code.data or ""
        if user.totp_secret:
            if totp.org_requires(org):
                form.form_errors.append("Your organisation requires two-factor sign-in.")
                status = 400
            elif totp.verify(user, code):
                totp.disable(user)
                db.session.commit()
                flash("Two-factor sign-in is off.", "info")
                return redirect("/account/totp")
            else:
                form.code.errors.append("That code is not right (or was used already).")
                status = 400
        elif totp.enable(user, _enroll_secret(), code):
            session.pop(ENROLL, None)
            db.session.commit()
            flash("Two-factor sign-in is on.", "success")
            return redirect("/account/totp")
        else:
            form.code.errors.append("That code is not right.")
            status = 400
    elif form.is_submitted():
        status = 400
    secret = "" if user.totp_secret else _enroll_secret()
    return render_template(
        "totp.html",
        mode="account",
        form=form,
        enabled=bool(user.totp_secret),
        required=totp.org_requires(org),
        is_owner=me.has_role("owner"),
        secret=secret,
        uri=totp.provisioning_uri(secret, user.email) if secret else "",
    ), status
