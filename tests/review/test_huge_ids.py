"""Ids in the path beyond Postgres' bigint, on every route: a 404, never a 500."""

from __future__ import annotations

import re

from admin.extensions import db
from tests.web.conftest import _fresh_request_globals

IDS = ["99999999999999999999", "9223372036854775808", "9223372036854775807"]


def test_huge_path_ids_are_404(app, api, web):
    failures = []
    for rule in app.url_map.iter_rules():
        if "<int:" not in rule.rule:
            continue
        for method, path in [
            (m, re.sub(r"<int:(\w+)>", big, rule.rule))
            for m in sorted(rule.methods - {"HEAD", "OPTIONS"})
            for big in IDS
        ]:
            _fresh_request_globals()
            if path.startswith("/api/"):
                resp = api.client.open(path, method=method, headers=api.headers, json={})
            else:
                resp = web.client.open(path, method=method)
            resp.close()
            if resp.status_code >= 500:
                failures.append((method, path, resp.status_code))
                db.session.rollback()  # the test keeps one session for every request
    assert not failures, failures
