"""Request bodies: malformed JSON is a 400, an oversized one a 413, a wrong shape names its path;
odd values in any field and raw bytes no JSON client sends are a 4xx, never a 500."""

from __future__ import annotations

import io
import json
import re

import pytest

from admin.extensions import db
from tests.helpers.routes import seed


def _raw(api, path, data, method="post", **headers):
    call = getattr(api.client, method)
    return call(
        path,
        data=data,
        headers={**api.headers, "Content-Type": "application/json", **headers},
    )


def test_malformed_json_is_400(api):
    for data in [b"{", b'{"hostname": }', b"\xff\xfe", b'"\\ud800"', b""]:
        resp = _raw(api, "/api/v1/domains", data)
        assert resp.status_code == 400, data
        error = resp.get_json()["error"]
        assert error["code"] == "malformed_json"
        assert "JSON" in error["message"]


def test_wrong_shapes_name_the_json_path(api):
    cases = [
        (b"[]", None),
        (b'{"hostname": 5}', "hostname"),
        (b"{}", "hostname"),
    ]
    for data, field in cases:
        resp = _raw(api, "/api/v1/domains", data)
        assert resp.status_code == 422, data
        assert resp.get_json()["error"].get("field") == field, (data, resp.get_json())
    nested = _raw(
        api,
        "/api/v1/links",
        b'{"destination": "https://x.test/", "domain": "d.test", "actions": [{"type": "whisper"},'
        b' {"tag": "x"}]}',
    )
    assert nested.get_json()["error"]["field"] == "actions[1].type"


def test_oversized_json_is_413(api, app):
    limit = app.config["MAX_JSON_BYTES"]
    big = b'{"hostname": "' + b"a" * limit + b'"}'
    resp = _raw(api, "/api/v1/domains", big)
    assert resp.status_code == 413
    assert resp.get_json()["error"]["code"] == "too_large"


def test_oversized_json_without_content_length_is_413(api, app):
    limit = app.config["MAX_JSON_BYTES"]

    body = io.BytesIO(b'{"hostname": "' + b"a" * limit + b'"}')
    # A chunked request: no Content-Length, the server marks the input as terminated.
    resp = api.client.post(
        "/api/v1/domains",
        input_stream=body,
        headers={**api.headers, "Content-Type": "application/json"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert resp.status_code == 413


# Odd JSON values in every field of every state-changing route: a 4xx, never a 500.
ODD_VALUES = [
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
    ids = seed(api)
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
            bodies = [[], "x", 1, None, {}] + [{f: v} for f in fields for v in ODD_VALUES]
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


# Raw request bodies that no JSON client would send: a 4xx, never a 500.
RAW = [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b"\xff\xfe{}",
    b'{"name": "\xff"}',
    b'{"name": "\\ud800"}',
    b"",
    b"null",
    b"1e999999",
    b'{"name": 1e999999}',
    b"NaN",
    b'{"contact_ids": [1e400]}',
    b'{"name": "x"}' + b" " * (2 * 1024 * 1024),
]
ROUTES = [
    ("POST", "/api/v1/links"),
    ("POST", "/api/v1/contacts"),
    ("POST", "/api/v1/domains"),
    ("POST", "/api/v1/broadcasts"),
    ("POST", "/api/v1/library"),
    ("POST", "/api/v1/webhooks"),
    ("POST", "/api/v1/lists"),
    ("POST", "/api/v1/messages"),
    ("PUT", "/api/v1/sending/provider"),
    ("POST", "/api/v1/broadcasts/preview"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_raw_bodies_are_4xx(api, method, path):
    failures = []
    for raw in RAW:
        resp = api.client.open(
            path, method=method, data=raw, content_type="application/json", headers=api.headers
        )
        if not 400 <= resp.status_code < 500:
            failures.append((raw[:30], resp.status_code))
    assert not failures, failures
