"""Odd path parameters on every route of the admin's URL map (API and web UI): ids beyond
Postgres' bigint are a 404, and odd text in the string parts (invitation tokens, media ids)
is never a 500."""

from __future__ import annotations

import re

import pytest

from admin.extensions import db
from tests.helpers.web import fresh_request_globals

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
            fresh_request_globals()
            if path.startswith("/api/"):
                resp = api.client.open(path, method=method, headers=api.headers, json={})
            else:
                resp = web.client.open(path, method=method)
            resp.close()
            if resp.status_code >= 500:
                failures.append((method, path, resp.status_code))
                db.session.rollback()  # the test keeps one session for every request
    assert not failures, failures


ODD = ["%00", "a%00b", "%C2%B2", "x" * 5000, "%FF", "..", "%2F"]


@pytest.mark.parametrize("odd", ODD)
def test_invitation_and_media_paths(client, org, odd):
    for path in [f"/invite/{odd}", f"/media/{odd}.png", f"/media/abc.{odd}"]:
        assert client.get(path).status_code < 500, path
        assert client.post(path, data={"password": "x" * 20}).status_code < 500, path
