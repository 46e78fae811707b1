"""The composer's JSON endpoints with bodies no browser would send: a 4xx, never a 500."""

from __future__ import annotations

from tests.review.test_query_garbage import _seed
from tests.web.conftest import _fresh_request_globals, csrf_from

RAW = [b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe", b'{"body": "\xff"}', b"1e999999"]


def test_composer_json_bodies(api, web):
    ids = _seed(api)
    token = csrf_from(web.get("/links").get_data(as_text=True))
    failures = []
    for path in ["/broadcasts/preview", f"/contacts/{ids['contact_id']}/conversation/preview"]:
        for raw in RAW:
            _fresh_request_globals()
            resp = web.client.post(
                path, data=raw, content_type="application/json", headers={"X-CSRFToken": token}
            )
            if not 400 <= resp.status_code < 500:
                failures.append((path, raw[:20], resp.status_code))
    assert not failures, failures
