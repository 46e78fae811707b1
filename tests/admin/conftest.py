"""Fixtures of the admin tests: the web UI logged in as the owner of ``org`` (CSRF on)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from admin.services.orgs import NewOrg
from tests.helpers.web import Web


@pytest.fixture
def web(client: FlaskClient, org: NewOrg) -> Web:
    """Logged in as the owner of ``org`` (the session Flask-Login would write; web/test_auth
    covers the login form itself, and skipping it here saves an argon2 verification)."""
    from admin.extensions import db
    from admin.models import User
    from admin.web.auth import session_id_for

    user = db.session.get(User, org.user_id)
    assert user is not None
    with client.session_transaction() as session:
        session["_user_id"] = session_id_for(user)
        session["_fresh"] = True
    return Web(client)
