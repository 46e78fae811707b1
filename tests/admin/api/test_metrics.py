"""A link's series with times at the ends of the calendar: a 422 naming the field, never a 500."""

from __future__ import annotations

import pytest

from tests.helpers.routes import seed

QUERIES = [
    "bucket=day&from=9999-12-30T00:00:00Z&to=9999-12-31T23:59:59Z",
    "bucket=minute&from=9999-12-31T23:00:00Z&to=9999-12-31T23:59:59Z",
    "bucket=hour&from=0001-01-01T00:00:00%2B01:00&to=0001-01-01T05:00:00Z",
    "bucket=day&from=0001-01-01T00:00:00Z&to=0001-01-02T00:00:00Z",
    "bucket=hour&from=9999-12-31T22:00:00-01:00&to=9999-12-31T23:00:00Z",
    "bucket=hour&to=0001-01-01T00:30:00Z",
    "bucket=day&from=9999-12-31T00:00:00Z",
]


@pytest.mark.parametrize("query", QUERIES)
def test_series_at_the_ends_of_time(api, query):
    link_id = seed(api)["link_id"]
    resp = api.get(f"/api/v1/links/{link_id}/series?{query}")
    assert resp.status_code in (200, 422), (query, resp.status_code)
    if resp.status_code != 200:
        assert resp.get_json()["error"]["field"] in ("from", "to"), resp.get_json()
