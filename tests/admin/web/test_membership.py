"""Tags and lists in the web UI (Flask test client, CSRF on): the small forms on a contact's
page, and the Lists & tags page (counts, create, rename, delete)."""

from __future__ import annotations

import html

import pytest

from admin.extensions import db
from admin.services import contacts, domains, links, memberships
from admin.services.orgs import NewOrg
from tests.helpers.web import Web


@pytest.fixture
def ada(org: NewOrg) -> int:
    return contacts.create_contact(org.org_id, {"phone": "+15550100011", "first_name": "Ada"}).id


def _tags_and_lists(contact_id: int) -> tuple[list[str], list[str]]:
    db.session.expire_all()
    return contacts.memberships([contact_id])[contact_id]


def _follow(web: Web, resp) -> str:
    assert resp.status_code == 303, resp.status_code
    return html.unescape(web.get(resp.headers["Location"]).get_data(as_text=True))


def test_contact_page_offers_existing_names(web: Web, org: NewOrg, ada: int) -> None:
    other = contacts.create_contact(org.org_id, {"phone": "+15550100012"}).id
    memberships.add_tag(org.org_id, other, "donor")
    memberships.add_tag(org.org_id, ada, "VIP")
    memberships.add_to_list(org.org_id, other, "Volunteers")
    page = web.get(f"/contacts/{ada}").get_data(as_text=True)
    assert 'id="add-tag"' in page and 'id="add-list"' in page
    tag_names = page.split('<datalist id="tag-names">')[1].split("</datalist>")[0]
    assert '<option value="donor">' in tag_names
    assert "VIP" not in tag_names  # the contact has it already
    assert '<option value="Volunteers">' in page.split('<datalist id="list-names">')[1]
    assert 'aria-label="Remove tag VIP"' in page


def test_add_and_remove_a_tag(web: Web, org: NewOrg, ada: int) -> None:
    page = f"/contacts/{ada}"
    added = web.post(f"/contacts/{ada}/tags/add", {"tag": "  VIP  "}, page=page)
    assert "Tagged VIP." in _follow(web, added)
    assert _tags_and_lists(ada) == (["VIP"], [])
    removed = web.post(f"/contacts/{ada}/tags/remove", {"tag": "VIP"}, page=page)
    assert "Tag VIP removed." in _follow(web, removed)
    assert _tags_and_lists(ada) == ([], [])


def test_add_and_remove_a_list(web: Web, org: NewOrg, ada: int) -> None:
    page = f"/contacts/{ada}"
    added = web.post(f"/contacts/{ada}/lists/add", {"list": "Phone bank"}, page=page)
    shown = _follow(web, added)
    assert "Added to Phone bank." in shown and 'aria-label="Remove from list Phone bank"' in shown
    assert _tags_and_lists(ada) == ([], ["Phone bank"])
    removed = web.post(f"/contacts/{ada}/lists/remove", {"list": "Phone bank"}, page=page)
    assert "Removed from Phone bank." in _follow(web, removed)
    assert _tags_and_lists(ada) == ([], [])


def test_bad_names_are_shown_and_change_nothing(web: Web, ada: int) -> None:
    page = f"/contacts/{ada}"
    blank = web.post(f"/contacts/{ada}/tags/add", {"tag": "   "}, page=page)
    assert "tag is required" in _follow(web, blank)
    long = web.post(f"/contacts/{ada}/lists/add", {"list": "x" * 101}, page=page)
    assert "longer than 100" in _follow(web, long)
    unknown = web.post(f"/contacts/{ada}/tags/remove", {"tag": "never"}, page=page)
    assert "no tag named 'never'" in _follow(web, unknown)
    assert _tags_and_lists(ada) == ([], [])


def test_forms_need_the_csrf_token(web: Web, org: NewOrg, ada: int) -> None:
    web.get(f"/contacts/{ada}")
    resp = web.client.post(f"/contacts/{ada}/tags/add", data={"tag": "VIP"})
    assert resp.status_code == 400
    resp = web.client.post("/lists", data={"name": "Sneaky", "csrf_token": "forged"})
    assert resp.status_code == 400
    assert _tags_and_lists(ada) == ([], [])
    assert memberships.list_lists(org.org_id) == []


def test_another_organisations_contact_is_404(web: Web, other_org: NewOrg) -> None:
    theirs = contacts.create_contact(other_org.org_id, {"phone": "+15550100013"}).id
    resp = web.post(f"/contacts/{theirs}/tags/add", {"tag": "VIP"}, page="/contacts")
    assert resp.status_code == 404
    assert _tags_and_lists(theirs) == ([], [])


def test_lists_page_counts_creates_renames_deletes(web: Web, org: NewOrg, ada: int) -> None:
    memberships.add_to_list(org.org_id, ada, "Walkers")
    memberships.add_tag(org.org_id, ada, "donor")
    page = html.unescape(web.get("/lists").get_data(as_text=True))
    assert "Lists & tags" in page
    assert "Walkers" in page and "1 contact<" in page  # the tag's count

    created = web.post("/lists", {"name": " Callers "}, page="/lists")
    assert "List Callers created." in _follow(web, created)
    taken = web.post("/lists", {"name": "Callers"}, page="/lists")
    assert "a list named 'Callers' exists already" in _follow(web, taken)
    (walkers,) = [x for x in memberships.list_lists(org.org_id) if x.name == "Walkers"]

    clash = web.post(f"/lists/{walkers.id}/rename", {"name": "Callers"}, page="/lists")
    assert "exists already" in _follow(web, clash)
    renamed = web.post(f"/lists/{walkers.id}/rename", {"name": "Canvassers"}, page="/lists")
    assert "List Walkers renamed to Canvassers." in _follow(web, renamed)
    assert _tags_and_lists(ada) == (["donor"], ["Canvassers"])

    deleted = web.post(f"/lists/{walkers.id}/delete", page="/lists")
    shown = _follow(web, deleted)
    assert "List Canvassers deleted" in shown and f'data-list-id="{walkers.id}"' not in shown
    assert _tags_and_lists(ada) == (["donor"], [])
    assert contacts.get_contact(org.org_id, ada).id == ada  # the contact stays


def test_renaming_a_list_a_link_names_warns(web: Web, org: NewOrg) -> None:
    domains.create_domain(org.org_id, "go.acme.test")
    links.create_link(
        org.org_id,
        {
            "destination": "https://example.org/",
            "domain": "go.acme.test",
            "actions": [{"type": "add_to_list", "list": "Walkers"}],
        },
    )
    walkers = memberships.create_list(org.org_id, "Walkers")
    renamed = web.post(f"/lists/{walkers.id}/rename", {"name": "Canvassers"}, page="/lists")
    assert "1 link still name 'Walkers' in click actions" in _follow(web, renamed)


def test_another_organisations_list_is_404(web: Web, other_org: NewOrg) -> None:
    theirs = memberships.create_list(other_org.org_id, "Theirs")
    for action, data in (("rename", {"name": "Mine"}), ("delete", {})):
        resp = web.post(f"/lists/{theirs.id}/{action}", data, page="/lists")
        assert resp.status_code == 404
    assert [x.name for x in memberships.list_lists(other_org.org_id)] == ["Theirs"]
