"""Issuing from the link's page: the known contacts go ahead and the unknown are listed apart,
an error stays beside the form with what was typed, and the issued URLs download as CSV."""

from __future__ import annotations

import csv
import io
import re

from tests.conftest import Api
from tests.helpers.web import Web

HOST = "go.issue.test"


def _setup(api: Api) -> tuple[int, list[dict]]:
    api.post("/api/v1/domains", {"hostname": HOST})
    link = api.post(
        "/api/v1/links", {"name": "Gala", "destination": "https://example.org/", "domain": HOST}
    ).get_json()
    people = [
        api.post("/api/v1/contacts", {"phone": "+15550100001", "first_name": "Ada"}).get_json(),
        api.post(
            "/api/v1/contacts", {"phone": "+15550100002", "first_name": "=HYPERLINK(1)"}
        ).get_json(),
    ]
    return link["id"], people


def test_known_contacts_are_issued_and_the_unknown_listed(api: Api, web: Web) -> None:
    link_id, people = _setup(api)
    typed = f"+1 555 010 0001\n+15559999999\n{people[1]['id']}\nnot a phone\n987654"
    page = web.post(
        f"/links/{link_id}/issue", {"audience": "contacts", "contacts": typed}, page="/links"
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    urls = re.findall(r"data-issued-url>([^<]+)<", html)
    assert len(urls) == 2 and all(u.startswith(f"https://{HOST}/") for u in urls)
    unknown = re.search(r'<ul class="mono" id="unknown-contacts">(.*?)</ul>', html, re.S)
    assert unknown is not None
    assert re.findall(r"<li>([^<]+)</li>", unknown.group(1)) == [
        "+15559999999", "not a phone", "987654",
    ]  # fmt: skip
    assert "3 not issued" in html


def test_nobody_known_keeps_the_input_and_shows_the_error_beside_it(api: Api, web: Web) -> None:
    link_id, _people = _setup(api)
    typed = "+15559999999\n+15558888888"
    page = web.post(
        f"/links/{link_id}/issue", {"audience": "contacts", "contacts": typed}, page="/links"
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 400
    assert re.search(
        r'<textarea id="issue-contacts"[^>]*aria-invalid="true"[^>]*>\+15559999999\n\+15558888888</textarea>',
        html,
    ), html
    error = re.search(
        r'<p class="error" role="alert" id="issue-error" data-field-error="contacts">([^<]+)<', html
    )
    assert (
        error
        and "none of these is one of your contacts: +15559999999, +15558888888" in error.group(1)
    )
    assert "contact_ids" not in html
    empty = web.post(
        f"/links/{link_id}/issue", {"audience": "contacts", "contacts": " "}, page="/links"
    )
    assert empty.status_code == 400 and 'data-field-error="contacts"' in empty.get_data(
        as_text=True
    )


def test_the_issued_urls_download_as_csv(api: Api, web: Web) -> None:
    link_id, people = _setup(api)
    form = {"audience": "contacts", "contacts": "+15550100001\n+15550100002\n+15557777777"}
    page = web.post(f"/links/{link_id}/issue", form, page="/links").get_data(as_text=True)
    urls = re.findall(r"data-issued-url>([^<]+)<", page)
    assert f'action="/links/{link_id}/issue.csv"' in page
    got = web.post(f"/links/{link_id}/issue.csv", form, page="/links")
    assert got.status_code == 200 and got.mimetype == "text/csv"
    assert got.headers["Content-Disposition"] == f'attachment; filename="link-{link_id}-urls.csv"'
    rows = list(csv.reader(io.StringIO(got.get_data(as_text=True))))
    assert rows[0] == ["contact_id", "first_name", "last_name", "phone", "url"]
    assert rows[1:] == [
        [str(people[0]["id"]), "Ada", "", people[0]["phone"], urls[0]],
        [str(people[1]["id"]), "'=HYPERLINK(1)", "", people[1]["phone"], urls[1]],
    ]
    # The same URLs as the page showed: issuing again returns them, it mints none.
    again = list(
        csv.reader(
            io.StringIO(
                web.post(f"/links/{link_id}/issue.csv", form, page="/links").get_data(as_text=True)
            )
        )
    )
    assert again == rows
    nobody = web.post(
        f"/links/{link_id}/issue.csv",
        {"audience": "contacts", "contacts": "+15557777777"},
        page="/links",
    )
    assert nobody.status_code == 400


def test_another_organisations_link_is_404(api: Api, other_api: Api, web: Web) -> None:
    _setup(api)
    other_api.post("/api/v1/domains", {"hostname": "go.rival.test"})
    theirs = other_api.post(
        "/api/v1/links", {"destination": "https://example.org/", "domain": "go.rival.test"}
    ).get_json()
    for path in ("issue", "issue.csv"):
        answer = web.post(
            f"/links/{theirs['id']}/{path}", {"contacts": "+15550100001"}, page="/links"
        )
        assert answer.status_code == 404
