"""Compliance at the destination: a destination that redirects to another host is refused unless
an owner overrides it (in the audit log), checked through the guarded outbound client against a
real local HTTP server; the CRM and donation presets and the warning about their blanks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from admin.extensions import db
from admin.models import AuditEvent, Link, User
from admin.security import hash_password
from admin.services import presets
from admin.services.orgs import issue_api_token
from tests.conftest import Api
from tests.helpers.dns_server import dns_server
from tests.helpers.trap import Trap, trap
from tests.helpers.web import Web

__all__ = ["trap"]

CAMPAIGN = "give.campaign.org"  # a real-looking name that only our DNS server knows


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch, trap: Trap) -> Iterator[Trap]:
    """Our DNS server answers CAMPAIGN with the trap's loopback address (which the operator
    allows) and nothing else: no test here reaches the internet."""
    with dns_server({CAMPAIGN: ["127.0.0.1"]}) as (_zone, address):
        monkeypatch.setenv("DNS_SERVERS", address)
        monkeypatch.setenv("OUTBOUND_ALLOW_NETWORKS", "127.0.0.1")
        yield trap


@pytest.fixture
def domain(api: Any) -> str:
    assert api.post("/api/v1/domains", {"hostname": "go.example.test"}).status_code == 201
    return "go.example.test"


def new_link(api: Any, destination: str, **extra: Any) -> Any:
    return api.post("/api/v1/links", {"destination": destination, "domain": "go.example.test",
                                      **extra})  # fmt: skip


def test_a_redirect_to_another_host_is_refused_unless_an_owner_allows_it(
    api, org, client, domain, network
):
    page = f"http://{CAMPAIGN}:{network.port}"
    network.redirect["/old?r=friend"] = "https://secure.actblue.com/donate/gala"
    network.redirect["/moved?r=friend"] = f"{page}/here"  # on the same site: fine

    refused = new_link(api, f"{page}/old?r={{{{first_name|friend}}}}")
    assert refused.status_code == 422, refused.get_json()
    error = refused.get_json()["error"]
    assert error["field"] == "destination"
    assert "redirects to secure.actblue.com" in error["message"]
    assert "allow_redirects" in error["message"]
    # The check fetched the destination merged with defaults only, through the outbound client.
    assert ("GET", "/old?r=friend") in [(m, p) for m, p, _ in network.hits]
    assert db.session.scalar(select(Link.id)) is None

    assert new_link(api, f"{page}/moved?r={{{{first_name|friend}}}}").status_code == 201
    patch = api.patch(f"/api/v1/links/{db.session.scalar(select(Link.id))}",
                      {"destination": f"{page}/old?r=friend"})  # fmt: skip
    assert patch.status_code == 422 and patch.get_json()["error"]["field"] == "destination"
    assert overrides() == []

    member = User(org_id=org.org_id, email="m@acme.test", password_hash="x", role="member")
    db.session.add(member)
    db.session.commit()
    member_api = Api(client, issue_api_token(org.org_id, member.id, "member"))
    db.session.commit()
    forbidden = new_link(member_api, f"{page}/old?r=friend", allow_redirects=True)
    assert forbidden.status_code == 403
    assert forbidden.get_json()["error"]["field"] == "allow_redirects"

    allowed = new_link(api, f"{page}/old?r=friend", allow_redirects=True)
    assert allowed.status_code == 201, allowed.get_json()
    (event,) = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "link.redirect_override")
    ).all()
    owner_id = db.session.scalar(select(User.id).where(User.org_id == org.org_id, User.role == "owner"))
    assert (event.org_id, event.actor_user_id) == (org.org_id, owner_id)
    assert event.subject == f"{page}/old?r=friend"
    assert event.detail == {"chain": ["https://secure.actblue.com/donate/gala"]}


def test_the_check_never_reaches_a_private_address(api, domain, trap, monkeypatch):
    """Without the operator's allowance the loopback server is never asked: the check passes
    (it could not look), and nothing private was fetched."""
    monkeypatch.delenv("OUTBOUND_ALLOW_NETWORKS", raising=False)
    trap.redirect["/old"] = "https://secure.actblue.com/donate/gala"
    assert new_link(api, f"http://127.0.0.1:{trap.port}/old").status_code == 201
    assert trap.hits == []


def client_of(web: Web) -> Any:
    """A second test client of the same app, for another person's session."""
    return web.client.application.test_client()


def test_the_web_form_refuses_a_redirecting_destination(web, org, domain, network):
    network.redirect["/old"] = "https://bit.ly/3abc"
    page = web.get("/links/new").get_data(as_text=True)
    domain_id = page.split('name="domain_id"', 1)[1].split('value="', 1)[1].split('"', 1)[0]
    form = {"name": "Gala", "domain_id": domain_id, "destination": f"http://{CAMPAIGN}:{network.port}/old"}
    resp = web.post("/links/new", form)
    assert resp.status_code == 400  # the form again, the error at the destination
    html = resp.get_data(as_text=True)
    assert 'data-field-error="destination">the destination redirects to bit.ly' in html
    assert db.session.scalar(select(Link.id)) is None
    # A member sees no such box, and ticking it anyway changes nothing.
    db.session.add(User(org_id=org.org_id, email="m@acme.test", role="member",
                        password_hash=hash_password("member password!")))  # fmt: skip
    db.session.commit()
    member = Web(client_of(web))
    assert member.login("m@acme.test", "member password!").status_code == 302
    as_member = member.post("/links/new", {**form, "allow_redirects": "on"}, page="/links/new")
    assert as_member.status_code == 400 and 'name="allow_redirects"' not in as_member.get_data(as_text=True)
    assert overrides() == []
    # The owner may tick "allow this redirect": saved, and in the audit log.
    assert 'name="allow_redirects"' in html
    resp = web.post("/links/new", {**form, "allow_redirects": "on"}, page="/links/new")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    (event,) = overrides()
    assert event.action == "link.redirect_override" and event.detail == {"chain": ["https://bit.ly/3abc"]}


def test_presets_fill_the_attribution_parameters(api, domain, network):
    listed = api.get("/api/v1/links/presets").get_json()["presets"]
    assert set(listed) == {"actblue", "winred", "everyaction", "actionnetwork", "mobilize", "anedot"}
    assert listed["actblue"]["params"]["refcode"] == "{{source|sms}}"
    assert listed["actblue"]["params"]["refcode2"] == "{{contact_id}}"
    assert listed["everyaction"]["params"] == {"ms": "{{source|sms}}"}
    assert listed["actionnetwork"]["params"] == {"source": "{{source|sms}}"}
    assert listed["winred"]["params"]["sc"] == "{{source|sms}}"
    assert listed["mobilize"]["params"]["utm_campaign"] == "{{source|sms}}"

    own = new_link(api, "https://donate.example.org/gala?amount=50#top", preset="actblue")
    assert own.status_code == 201, own.get_json()
    assert own.get_json()["destination"] == (
        "https://donate.example.org/gala?amount=50&refcode={{source|sms}}"
        "&refcode2={{contact_id}}#top"
    )  # its own amount kept, the fragment after the query
    assert own.get_json()["warnings"] == []

    # No page of one's own: the preset's example, and a warning about its blank.
    blank = new_link(api, "", preset="everyaction")
    assert blank.status_code == 201, blank.get_json()
    assert blank.get_json()["destination"] == "https://secure.everyaction.com/your-form-id?ms={{source|sms}}"
    (warning,) = blank.get_json()["warnings"]
    assert "'your-form-id'" in warning
    fixed = api.patch(f"/api/v1/links/{blank.get_json()['id']}",
                      {"destination": "https://secure.everyaction.com/Ab12Cd?ms={{source}}"})  # fmt: skip
    assert fixed.status_code == 200 and fixed.get_json()["warnings"] == []

    unknown = new_link(api, "https://donate.example.org/", preset="paypal")
    assert unknown.status_code == 422 and unknown.get_json()["error"]["field"] == "preset"


def test_every_preset_is_a_valid_destination_with_only_its_blanks_to_fix() -> None:
    from core.merge import parse_template

    for name in presets.PRESETS:
        url = presets.apply(name, "")
        template = parse_template(url)  # valid: the edge can merge it
        assert template.uses_source, name
        assert presets.leftovers(url), name  # the example page is warned about
        own = url.replace("your-", "acme-")
        assert presets.leftovers(own) == [], name


def overrides() -> list[AuditEvent]:
    """The owners' overrides in the audit log (other changes are logged there too)."""
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("link.%_override"))))
