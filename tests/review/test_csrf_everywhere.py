"""Every state-changing web route refuses a request without the CSRF token (logged in)."""

from __future__ import annotations

import re

from tests.review.test_query_garbage import _seed
from tests.web.conftest import _fresh_request_globals


def test_every_web_post_needs_csrf(app, api, web):
    ids = _seed(api)
    ids["token"] = 0
    allowed = []
    for rule in app.url_map.iter_rules():
        methods = rule.methods & {"POST", "PUT", "PATCH", "DELETE"}
        if not methods or rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:int:)?(\w+)>", lambda m: str(ids.get(m.group(1), 1)), rule.rule)
        for method in methods:
            _fresh_request_globals()
            resp = web.client.open(path, method=method, data={"name": "x", "body": "x"})
            if resp.status_code != 400:
                allowed.append((method, path, resp.status_code))
    assert not allowed, allowed
