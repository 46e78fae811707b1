"""Odd JSON bodies on every state-changing API route: a 4xx, never a 500."""

import json
import re

from admin.extensions import db
from tests.review.test_query_garbage import _seed

VALUES = [
    None,
    [],
    {},
    "\x00",
    "a\x00b",
    10**30,
    -1,
    0,
    True,
    1.5,
    "a" * 20000,
    "https://example.org/\x00",
    "\ud800x",
    "{{",
    "%ff",
    ["\x00"],
    {"a": "\x00"},
    [10**30],
    "\u00b2",
    ["\u00b2"],
]


def props(spec, path, method):
    op = spec["paths"].get(path, {}).get(method, {})
    body = (
        op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    )
    if "$ref" in body:
        body = spec["components"]["schemas"][body["$ref"].split("/")[-1]]
    return list(body.get("properties", {}))


def test_api_bodies_never_500(app, api):
    ids = _seed(api)
    spec = api.get("/api/v1/openapi.json").get_json()
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        for method in sorted(rule.methods & {"POST", "PATCH", "PUT", "DELETE"}):
            path = re.sub(r"<int:(\w+)>", lambda m: str(ids[m.group(1)]), rule.rule)
            oapath = re.sub(r"<int:(\w+)>", r"{\1}", rule.rule)
            fields = props(spec, oapath, method.lower()) or [
                "name",
                "body",
                "url",
                "phone",
                "hostname",
                "contact_ids",
                "link_id",
                "list",
                "tag",
                "events",
                "destination",
            ]
            bodies = [[], "x", 1, None, {}] + [{f: v} for f in fields for v in VALUES]
            for b in bodies:
                r = api.client.open(
                    path,
                    method=method,
                    data=json.dumps(b),
                    content_type="application/json",
                    headers=api.headers,
                )
                if r.status_code >= 500:
                    out.append((method, path, repr(b)[:80], r.status_code))
                    db.session.rollback()
                r.close()
    assert not out


def test_webhook_url_with_nul_is_422_naming_url(api):
    resp = api.post("/api/v1/webhooks", {"url": "https://example.org/\x00"})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["field"] == "url"
