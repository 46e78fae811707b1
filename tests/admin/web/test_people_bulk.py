"""Many contacts at once from the contacts list, the Lists & tags page and a link's drill-down:
add to a list, tag, untag, take off a list, export, message; the ticked rows (or lists and
tags) or everything the filter matches."""

from __future__ import annotations

import csv
import io
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import text

from admin.extensions import db
from admin.services.orgs import NewOrg
from tests.conftest import Api
from tests.helpers.web import Web


def _people(api: Api, n: int, **extra: object) -> list[int]:
    return [
        api.post(
            "/api/v1/contacts", {"phone": f"+1555020{i:04d}", "first_name": f"P{i}", **extra}
        ).get_json()["id"]
        for i in range(n)
    ]


def _bulk(web: Web, **form: object) -> object:
    return web.post("/people/bulk", {"back": "/contacts", **form}, page="/contacts")


def _lists(api: Api, contact_id: int) -> tuple[list[str], list[str]]:
    body = api.get(f"/api/v1/contacts/{contact_id}").get_json()
    return sorted(body["tags"]), sorted(body["lists"])


def test_ticked_people_are_listed_tagged_untagged_and_taken_off(api: Api, web: Web) -> None:
    ids = _people(api, 3)
    page = web.get("/contacts").get_data(as_text=True)
    assert 'id="people-bulk"' in page and 'form="people-bulk"' in page
    assert "All 3 matching" in page
    done = _bulk(
        web, action="add_to_list", name="Volunteers", contact_ids=[str(i) for i in ids[:2]]
    )
    assert done.status_code == 302 and done.headers["Location"] == "/contacts"
    assert "2 people added to the list &#39;Volunteers&#39;." in web.get("/contacts").get_data(
        as_text=True
    )
    assert [_lists(api, i)[1] for i in ids] == [["Volunteers"], ["Volunteers"], []]
    _bulk(web, action="tag", name="gala", contact_ids=[str(i) for i in ids])
    _bulk(web, action="untag", name="gala", contact_ids=[str(ids[0])])
    _bulk(web, action="remove_from_list", name="Volunteers", contact_ids=[str(ids[1])])
    assert [_lists(api, i) for i in ids] == [
        ([], ["Volunteers"]), (["gala"], []), (["gala"], []),
    ]  # fmt: skip


def test_all_matching_the_filter_not_only_the_page(api: Api, web: Web) -> None:
    ids = _people(api, 60)  # more than a page (50)
    for i in ids[:55]:
        api.post(f"/api/v1/contacts/{i}/tags", {"tag": "north"})
    page = web.get("/contacts?tag=north").get_data(as_text=True)
    assert "All 55 matching" in page
    _bulk(web, action="add_to_list", name="North list", all="1", scope="contacts", tag="north")
    on_list = db.session.execute(
        text(
            "SELECT count(*) FROM list_members m JOIN contact_lists l ON l.id = m.list_id"
            " WHERE l.name = 'North list'"
        )
    ).scalar_one()
    assert on_list == 55


def test_export_and_message(api: Api, web: Web) -> None:
    ids = _people(api, 2, email="=cmd@example.org")
    got = _bulk(web, action="export", contact_ids=[str(i) for i in ids])
    assert got.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(got.get_data(as_text=True))))
    assert rows[0] == ["contact_id", "phone", "first_name", "last_name", "email", "tags", "lists"]
    assert [r[0] for r in rows[1:]] == [str(i) for i in ids]
    assert rows[1][1] == "+15550200000" and rows[1][4] == "'=cmd@example.org"
    # Ticked people go to the composer through a list of their own.
    message = _bulk(web, action="message", contact_ids=[str(ids[1])])
    target = urlsplit(message.headers["Location"])
    assert target.path == "/broadcasts/new"
    query = parse_qs(target.query)
    assert query["to"] == ["list"] and query["list"][0].startswith("Selected ")
    assert _lists(api, ids[1])[1] == [query["list"][0]]
    composer = web.get(message.headers["Location"]).get_data(as_text=True)
    assert (
        f"<option selected>{query['list'][0]}</option>" in composer or query["list"][0] in composer
    )
    # A filter by one tag goes to the composer as that tag.
    api.post(f"/api/v1/contacts/{ids[0]}/tags", {"tag": "donor"})
    by_tag = _bulk(web, action="message", all="1", scope="contacts", tag="donor")
    assert by_tag.headers["Location"] == "/broadcasts/new?to=tag&tag=donor"


def test_bulk_from_a_drill_down(api: Api, web: Web, org: NewOrg) -> None:
    ids = _people(api, 3)
    api.post("/api/v1/domains", {"hostname": "go.bulk.test"})
    link = api.post(
        "/api/v1/links", {"destination": "https://example.org/", "domain": "go.bulk.test"}
    ).get_json()
    for i in ids[:2]:  # two of the three clicked
        db.session.execute(
            text(
                "INSERT INTO link_contact_clicks (link_id, contact_id, org_id, clicks, first_at,"
                " last_at) VALUES (:l, :c, :o, 1, now(), now())"
            ),
            {"l": link["id"], "c": i, "o": org.org_id},
        )
    db.session.commit()
    page = web.get(f"/links/{link['id']}/contacts?metric=clicks").get_data(as_text=True)
    assert 'name="scope" value="link"' in page and 'form="people-bulk"' in page
    web.post(
        "/people/bulk",
        {"action": "add_to_list", "name": "Clicked", "all": "1", "scope": "link",
         "link_id": str(link["id"]), "metric": "clicks", "back": f"/links/{link['id']}/contacts"},
        page="/contacts",
    )  # fmt: skip
    assert [_lists(api, i)[1] for i in ids] == [["Clicked"], ["Clicked"], []]


def test_bad_input_and_other_organisations(api: Api, other_api: Api, web: Web) -> None:
    theirs = _people(other_api, 1)
    _bulk(web, action="tag", name="mine", contact_ids=[str(theirs[0])])
    assert _lists(other_api, theirs[0]) == ([], [])
    assert _bulk(web, action="tag", name="x").status_code == 302  # nothing selected: a flash
    assert _bulk(web, action="explode", contact_ids=["1"]).status_code == 302
    ours = _people(api, 1)
    refused = _bulk(web, action="untag", name="never-made", contact_ids=[str(ours[0])])
    assert refused.status_code == 302
    assert "no tag named" in web.get("/contacts").get_data(as_text=True)
    for odd in ("\x00", "9" * 40, "-1", "²"):
        assert _bulk(web, action="tag", name="t", contact_ids=[odd]).status_code == 302
        assert (
            _bulk(web, action="tag", name="t", all="1", scope="link", link_id=odd).status_code
            == 302
        )


def test_the_people_of_ticked_lists_and_tags(api: Api, other_api: Api, web: Web) -> None:
    ids = _people(api, 4)
    _bulk(web, action="add_to_list", name="Ward 1", contact_ids=[str(ids[0]), str(ids[1])])
    _bulk(web, action="add_to_list", name="Ward 2", contact_ids=[str(ids[3])])
    _bulk(web, action="tag", name="donor", contact_ids=[str(ids[1]), str(ids[2])])
    theirs = _people(other_api, 1)
    other_list = other_api.post("/api/v1/lists", {"name": "Theirs"}).get_json()["id"]
    other_api.post(f"/api/v1/contacts/{theirs[0]}/lists", {"list": "Theirs"})
    page = web.get("/lists").get_data(as_text=True)
    assert 'name="list_ids"' in page and 'name="tag_names"' in page
    assert 'name="scope" value="groups"' in page and 'name="all"' not in page
    ward1 = next(
        row["id"] for row in api.get("/api/v1/lists").get_json()["lists"] if row["name"] == "Ward 1"
    )

    def groups(**form: object) -> object:
        return web.post(
            "/people/bulk", {"back": "/lists", "scope": "groups", **form}, page="/lists"
        )

    # Ward 1 (Ada, Bo) and the tag donor (Bo, Cy): three people; another organisation's
    # list id reaches nobody.
    done = groups(
        action="tag", name="canvass", list_ids=[str(ward1), str(other_list)], tag_names=["donor"]
    )
    assert done.status_code == 302 and done.headers["Location"] == "/lists"
    assert [_lists(api, i)[0] for i in ids] == [
        ["canvass"], ["canvass", "donor"], ["canvass", "donor"], [],
    ]  # fmt: skip
    assert _lists(other_api, theirs[0]) == ([], ["Theirs"])
    got = groups(action="export", tag_names=["donor"])
    assert [r.split(",")[0] for r in got.get_data(as_text=True).splitlines()[1:]] == [
        str(ids[1]), str(ids[2]),
    ]  # fmt: skip
    # One list goes to the composer as that list; a list and a tag through a list of their own.
    one = groups(action="message", list_ids=[str(ward1)])
    assert one.headers["Location"] == "/broadcasts/new?to=list&list=Ward+1"
    two = groups(action="message", list_ids=[str(ward1)], tag_names=["donor"])
    chosen = parse_qs(urlsplit(two.headers["Location"]).query)["list"][0]
    assert chosen.startswith("Selected ") and _lists(api, ids[2])[1] == [chosen]
    # Nothing ticked, or only another organisation's list: nothing happens, and it says so.
    for form in ({}, {"list_ids": [str(other_list)]}, {"list_ids": ["x", "\x00"]}):
        assert groups(action="tag", name="none", **form).status_code == 302
    assert "Tick lists or tags with people on them first." in web.get("/lists").get_data(
        as_text=True
    )
    assert "none" not in [t["name"] for t in api.get("/api/v1/tags").get_json()["tags"]]
