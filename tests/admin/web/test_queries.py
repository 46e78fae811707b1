"""Garbage query strings on every GET route of the web UI: never a 500."""

from __future__ import annotations

from tests.helpers.odd import GARBAGE_QUERIES
from tests.helpers.routes import get_routes, seed


def test_web_get_routes_never_500(app, api, web):
    ids = seed(api)
    failures = []
    for path in get_routes(app, ids, "/"):
        if path.startswith("/api/"):
            continue
        for query in GARBAGE_QUERIES:
            resp = web.get(f"{path}?{query}")
            resp.close()
            if resp.status_code >= 500:
                failures.append((path, query, resp.status_code))
    assert not failures, failures
