"""Garbage query strings on every GET route of the API: never a 500."""

from __future__ import annotations

from tests.helpers.odd import GARBAGE_QUERIES
from tests.helpers.routes import get_routes, seed


def test_api_get_routes_never_500(app, api):
    ids = seed(api)
    failures = []
    for path in get_routes(app, ids, "/api/v1"):
        for query in GARBAGE_QUERIES:
            resp = api.get(f"{path}?{query}")
            resp.close()  # the CSV export streams
            if resp.status_code >= 500:
                failures.append((path, query, resp.status_code))
    assert not failures, failures
