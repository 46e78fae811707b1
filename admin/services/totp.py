"""Optional two-factor sign-in: time-based one-time passwords (RFC 6238, pyotp), with a code
accepted once (the last step used is kept), and an organisation's owners may require it of
everyone (``organisations.settings["require_totp"]``). The secret is stored encrypted."""

from __future__ import annotations

import hmac
import time

import pyotp
from sqlalchemy import or_, update

from admin.extensions import db
from admin.models import Organisation, User
from admin.services import audit
from sync import crypto

ISSUER = "Smart Links"
REQUIRE_KEY = "require_totp"


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def matching_step(secret: str, code: str, after: int | None = None) -> int | None:
    """The time step (30 s; one either side for clock drift) whose code ``code`` is, later
    than ``after``; None when it is no such code."""
    code = (code or "").replace(" ", "").strip()
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now = int(time.time()) // totp.interval
    for step in (now - 1, now, now + 1):
        if after is not None and step <= after:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def verify(user: User, code: str) -> bool:
    """A valid code not used before; the step is claimed in one statement, so that the same
    code sent twice at once passes once. The caller commits."""
    if not user.totp_secret:
        return False
    step = matching_step(crypto.decrypt(user.totp_secret), code, user.totp_last_step)
    if step is None:
        return False
    claimed = db.session.scalar(
        update(User)
        .where(
            User.id == user.id,
            or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .returning(User.id)
        .execution_options(synchronize_session=False)
    )
    return claimed is not None


def enable(user: User, secret: str, code: str) -> bool:
    """Turn it on with the secret the person's app holds, proven by one of its codes."""
    step = matching_step(secret, code)
    if step is None:
        return False
    user.totp_secret = crypto.encrypt(secret)
    user.totp_last_step = step
    return True


def disable(user: User) -> None:
    user.totp_secret = None
    user.totp_last_step = None


def org_requires(org: Organisation | None) -> bool:
    return bool(org is not None and (org.settings or {}).get(REQUIRE_KEY))


def set_required(org: Organisation, required: bool) -> None:
    audit.record(
        org.id,
        "settings.two_factor_required",
        "two-factor sign-in",
        before={"required": org_requires(org)},
        after={"required": required},
    )
    org.settings = {**(org.settings or {}), REQUIRE_KEY: required}


def needed_at_login(user: User, org: Organisation | None) -> bool:
    """A second step after the password: the person has it on, or their organisation requires
    it (they then set it up before they get in)."""
    return bool(user.totp_secret) or org_requires(org)
