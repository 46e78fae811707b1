"""The import page: a duplicate policy per import, a list and tags for every imported contact,
bad cells that cost only themselves, and the rejected rows as CSV with their reasons."""

from __future__ import annotations

import csv
import io
import time

import pytest

from tests.conftest import Api
from tests.helpers.web import Web

FILE = (
    "phone,first_name,email,team\n"
    "+15550300001,Ada New,ada@new.example,red\n"  # already a contact
    "+15550300002,Bob,not-an-email,blue\n"  # kept without the email
    "nope,Cy,cy@example.org,green\n"  # rejected: no phone
    "+15550300003,=Dee,,\n"
)


def _import(web: Web, **form: str) -> dict:
    answer = web.post(
        "/contacts/import",
        {"file": (io.BytesIO(FILE.encode()), "people.csv"), **form},
        page="/contacts/import",
        content_type="multipart/form-data",
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)
    path = answer.headers["Location"]
    deadline = time.monotonic() + 30
    while (job := web.get(path + ".json").get_json())["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    assert job["status"] == "done", job
    return job


def _ada(api: Api) -> dict:
    api.post("/api/v1/contacts", {"phone": "+15550300001", "first_name": "Ada", "email": ""})
    return api.get("/api/v1/contacts?q=Ada").get_json()


def _contact(api: Api, phone: str) -> dict:
    found = [
        c
        for c in api.get("/api/v1/contacts?limit=100").get_json()["contacts"]
        if c["phone"] == phone
    ]
    assert found, phone
    return api.get(f"/api/v1/contacts/{found[0]['id']}").get_json()


@pytest.mark.parametrize(
    ("policy", "name", "email"),
    [
        ("update", "Ada New", "ada@new.example"),
        ("skip", "Ada", ""),
        ("keep", "Ada", "ada@new.example"),  # her name kept, her missing email added
    ],
)
def test_duplicate_policy(api: Api, web: Web, policy: str, name: str, email: str) -> None:
    _ada(api)
    job = _import(web, duplicates=policy)
    assert (job["imported_rows"], job["failed_rows"]) == (3, 1)
    ada = _contact(api, "+15550300001")
    assert (ada["first_name"], ada["email"]) == (name, email)
    bob = _contact(api, "+15550300002")
    assert (bob["first_name"], bob["email"]) == ("Bob", "")


def test_list_and_tags_for_everyone_and_the_rejected_rows(api: Api, web: Web) -> None:
    _ada(api)
    job = _import(web, duplicates="skip", list_name="Spring", tags="volunteer, 2026")
    for phone in ("+15550300001", "+15550300002", "+15550300003"):
        contact = _contact(api, phone)
        assert contact["lists"] == ["Spring"], contact
        assert sorted(contact["tags"]) == ["2026", "volunteer"], contact
    kept = [e for e in job["errors"] if e.get("kept")]
    assert [(e["line"], e["field"]) for e in kept] == [(3, "email")]
    page = web.get(f"/contacts/imports/{job['id']}").get_data(as_text=True)
    assert f'href="/contacts/imports/{job["id"]}/rejected.csv"' in page
    assert "kept" in page and "rejected" in page
    got = web.get(f"/contacts/imports/{job['id']}/rejected.csv")
    assert got.mimetype == "text/csv"
    assert (
        got.headers["Content-Disposition"]
        == f'attachment; filename="import-{job["id"]}-rejected.csv"'
    )
    rows = list(csv.reader(io.StringIO(got.get_data(as_text=True))))
    assert rows[0] == ["line", "reason", "phone", "first_name", "email", "team"]
    assert (
        len(rows) == 2
        and rows[1][0] == "4"
        and rows[1][2:] == ["nope", "Cy", "cy@example.org", "green"]
    )
    assert "phone" in rows[1][1]


@pytest.mark.parametrize(
    ("option", "value", "shown"),
    [("duplicates", "merge-ish", ""), ("tags", "a\x01b", 'data-field-error="tags"')],
)
def test_bad_options_are_shown_on_the_form(web: Web, option: str, value: str, shown: str) -> None:
    answer = web.post(
        "/contacts/import",
        {"file": (io.BytesIO(FILE.encode()), "people.csv"), option: value},
        page="/contacts/import",
        content_type="multipart/form-data",
    )
    assert answer.status_code == 400
    assert shown in answer.get_data(as_text=True)


def test_another_organisations_rejected_rows_are_404(web: Web, other_api: Api) -> None:
    job = other_api.client.post(
        "/api/v1/contacts/import",
        data={"file": (io.BytesIO(b"phone\nnope\n"), "x.csv")},
        headers=other_api.headers,
        content_type="multipart/form-data",
    ).get_json()
    assert web.get(f"/contacts/imports/{job['id']}/rejected.csv").status_code == 404
