"""Query parameters: every bad value on every API route is one answer, a 422 naming it.

The routes and their parameters come from the OpenAPI document, so a route added with an
integer or boolean query parameter is checked without touching this file.
"""

from __future__ import annotations

import re

import pytest

BAD_BY_TYPE = {
    "integer": ["abc", "-1", "1.5", "99999999999999999999999999999999999999", "\u0661\u0662", "²"],
    "boolean": ["maybe", "1", "TRUE"],
}
BAD_STRINGS = {
    "metric": ["opens", "%00"],
    "bucket": ["week"],
    "cursor": ["abc", "-1"],
    "from": ["yesterday", "0001-01-01T00:00:00Z", "2026-13-45"],
    "to": ["garbage"],
}


@pytest.fixture
def ids(api):
    api.post("/api/v1/domains", {"hostname": "go.params.test"})
    link = api.post(
        "/api/v1/links", {"destination": "https://example.org/", "domain": "go.params.test"}
    ).get_json()
    hook = api.post("/api/v1/webhooks", {"url": "https://hooks.example.org/in"}).get_json()
    return {"link_id": link["id"], "webhook_id": hook["id"]}


def _queried_routes(api, ids):
    doc = api.get("/api/v1/openapi.json").get_json()
    for path, methods in doc["paths"].items():
        get = methods.get("get")
        if get is None:
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: str(ids.get(m.group(1), 1)), path)
        for param in get.get("parameters", []):
            if param["in"] == "query":
                yield url, param["name"], param["schema"]["type"]


def test_every_bad_query_value_is_a_422_naming_it(api, ids):
    checked = 0
    failures = []
    for url, name, kind in _queried_routes(api, ids):
        for bad in BAD_BY_TYPE.get(kind, BAD_STRINGS.get(name, [])):
            resp = api.get(url, query_string={name: bad})
            body = resp.get_json(silent=True) or {}
            error = body.get("error", {})
            if resp.status_code != 422 or error.get("field") != name or not error.get("message"):
                failures.append((url, name, bad, resp.status_code, body))
            checked += 1
    assert not failures, failures
    assert checked >= 30  # the document lists the query parameters (limit, after, metric...)


def test_absent_or_empty_means_the_default(api, ids):
    link = ids["link_id"]
    for query in ("", "limit=", "limit=&after=", "phone="):
        assert api.get(f"/api/v1/contacts?{query}").status_code == 200, query
    assert api.get("/api/v1/links?archived=").status_code == 200
    assert api.get(f"/api/v1/links/{link}/contacts?metric=&cursor=").status_code == 200
    assert api.get(f"/api/v1/links/{link}/series?bucket=&from=&to=").status_code == 200
    deliveries = f"/api/v1/webhooks/{ids['webhook_id']}/deliveries?limit="
    assert api.get(deliveries).status_code == 200


def test_good_values_at_the_bounds(api, ids):
    assert api.get("/api/v1/contacts?limit=1000&after=0").status_code == 200
    assert api.get("/api/v1/contacts?limit=1001").status_code == 422
    hook = ids["webhook_id"]
    assert api.get(f"/api/v1/webhooks/{hook}/deliveries?limit=1000").status_code == 200
    assert api.get(f"/api/v1/webhooks/{hook}/deliveries?limit=1001").status_code == 422
    assert api.get("/api/v1/links?archived=false").get_json()["links"][0]["id"] == ids["link_id"]
