"""The link form with odd action rows: never a 500."""

from __future__ import annotations

import pytest

from tests.review.test_query_garbage import _seed

BASE = {"destination": "https://example.org/", "name": "Odd actions"}


@pytest.mark.parametrize(
    "rows",
    [
        {"actions-99999999999999999999-type": "whisper"},
        {"actions-0-type": "\x00", "actions-0-value": "\x00"},
        {"actions-0-type": "add_tag", "actions-0-value": "x" * 5000},
        {f"actions-{i}-type": "add_tag" for i in range(600)}
        | {f"actions-{i}-value": f"t{i}" for i in range(600)},
        {"actions-0-type": "nope"},
        {"actions--1-type": "whisper"},
    ],
    ids=range(6),
)
def test_link_form_with_odd_action_rows(api, web, rows):
    ids = _seed(api)
    data = {**BASE, "domain_id": str(ids["domain_id"]), **rows}
    resp = web.post("/links/new", data, page="/links/new")
    assert resp.status_code < 500, resp.status_code
