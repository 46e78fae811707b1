"""Errors in a person's words: no API field names, no WTForms boilerplate, the form's labels."""

from __future__ import annotations

from flask.testing import FlaskClient

from admin.extensions import db
from admin.models import User
from admin.services import team
from admin.web.plain import plain
from tests.helpers.web import Web


def test_api_field_names_become_the_forms_words() -> None:
    assert (
        plain("contact_ids must be a list of contact ids")
        == "contacts must be a list of contact ids"
    )
    assert plain("no such contacts: contact_ids[3]") == "no such contacts: contacts"
    assert plain("choose recipients: contact_ids, a list or a tag") == (
        "choose recipients: contacts, a list or a tag"
    )
    assert plain("fallback_url must be https") == "fallback URL must be https"
    # Words that merely contain a field name stay as they are.
    assert plain("my_contact_ids_x") == "my_contact_ids_x"


def test_a_too_long_field_names_its_label(web: Web) -> None:
    page = web.post("/links/new", {"name": "x" * 201, "destination": "https://example.org/"})
    html = page.get_data(as_text=True)
    assert page.status_code == 400
    assert "Name can be at most 200 characters long." in html
    assert "Field must be" not in html


def test_a_short_password_says_so_in_plain_words(client: FlaskClient, org, web: Web) -> None:
    owner = db.session.get(User, org.user_id)
    invitation = team.invite(org.org_id, owner, "new@acme.test", "member")
    db.session.commit()
    fresh = Web(client.application.test_client())
    path = f"/invite/{invitation.token}"
    page = fresh.post(path, {"name": "Nia", "password": "short", "confirm": "short"})
    html = page.get_data(as_text=True)
    assert "Password needs at least 8 characters." in html, html
    assert "Field must be between" not in html
    empty = fresh.post(
        path, {"name": "", "password": "long enough pw", "confirm": "long enough pw"}
    )
    assert "Your name is required." in empty.get_data(as_text=True)
