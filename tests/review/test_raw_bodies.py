"""Raw request bodies that no JSON client would send: a 4xx, never a 500."""

from __future__ import annotations

import pytest

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
