"""The pages' downloads of the organisation's data count against its requests in flight as the
API's do (one count, in Redis), are refused with 429 and Retry-After over it, and are each in
the audit log (issue 15)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import redis
from flask import Flask

from admin.api import limits
from admin.extensions import db
from admin.models import ImportJob
from admin.services.orgs import NewOrg
from tests.conftest import Api
from tests.helpers.web import Web

HOST = "go.acme.test"
PHONE = "+15550100001"


def _exports(api: Api, web: Web, org: NewOrg) -> dict[str, Callable[[], Any]]:
    """Each download of the pages, by the audit action it records."""
    api.post("/api/v1/domains", {"hostname": HOST})
    link = api.post(
        "/api/v1/links", {"destination": "https://example.org/", "domain": HOST}
    ).get_json()["id"]
    person = api.post("/api/v1/contacts", {"phone": PHONE, "first_name": "Ada"}).get_json()["id"]
    job = ImportJob(
        org_id=org.org_id,
        status="done",
        header=["phone"],
        errors=[{"line": 2, "message": "bad", "cells": ["x"]}],
    )
    db.session.add(job)
    db.session.commit()
    issue = {"audience": "contacts", "contacts": PHONE}
    people = {"back": "/contacts", "action": "export", "contact_ids": [str(person)]}
    return {
        "export.link_contacts": lambda: web.get(f"/links/{link}/export.csv?metric=clicks"),
        "export.contact": lambda: web.get(f"/contacts/{person}/export.json"),
        "export.people": lambda: web.post("/people/bulk", people, page="/contacts"),
        "export.import_rejected": lambda: web.get(f"/contacts/imports/{job.id}/rejected.csv"),
        "export.issued_urls": lambda: web.post(f"/links/{link}/issue.csv", issue, page="/links"),
    }


def _export_actions(api: Api) -> list[str]:
    answer = api.get("/api/v1/audit?kind=export")
    assert answer.status_code == 200, answer.get_json()
    return sorted(e["action"] for e in answer.get_json()["events"])


def test_page_exports_take_the_organisations_slot_and_are_audited(
    app: Flask, api: Api, other_api: Api, web: Web, org: NewOrg, rdb: redis.Redis
) -> None:
    exports = _exports(api, web, org)
    app.config["API_CONCURRENT_PER_ORG"] = 1
    key = f"{limits.BUSY_PREFIX}{org.org_id}"
    seconds, _ = rdb.time()
    rdb.zadd(key, {"an API request": seconds + 60})  # the organisation's one slot is taken
    for action, download in exports.items():
        refused = download()
        assert refused.status_code == 429, (action, refused.status_code)
        assert 1 <= int(refused.headers["Retry-After"]) <= 5, action
    assert other_api.get("/api/v1/links").status_code == 200  # its own count
    rdb.zrem(key, "an API request")
    assert _export_actions(api) == []  # refused before anything left
    for action, download in exports.items():
        answer = download()
        assert answer.status_code == 200, (action, answer.get_data(as_text=True)[:300])
        answer.close()  # as the server does after the last chunk: the slot goes back
    assert _export_actions(api) == sorted(exports)
    # A page's streamed CSV holds the slot until its last chunk, as the API's does.
    held = exports["export.link_contacts"]()
    assert api.get("/api/v1/links").status_code == 429
    held.close()
    assert api.get("/api/v1/links").status_code == 200


def test_a_page_upload_takes_an_upload_slot_shared_with_the_api(
    app: Flask, web: Web, org: NewOrg, rdb: redis.Redis
) -> None:
    key = f"{limits.UPLOAD_PREFIX}{org.org_id}"
    seconds, _ = rdb.time()
    uploads = int(app.config["IMPORTS_PER_ORG"])
    rdb.zadd(key, {f"an API upload {n}": seconds + 60 for n in range(uploads)})

    def upload(came_from: str = "http://localhost/contacts/import") -> Any:
        csv = io.BytesIO(b"phone,first_name\n+15550100009,Eve\n")
        return web.post("/contacts/import", {"file": (csv, "people.csv")},
                        page="/contacts/import", content_type="multipart/form-data",
                        headers={"Referer": came_from})  # fmt: skip

    refused = upload()
    assert refused.status_code == 429
    page = refused.get_data(as_text=True)  # a page for a person, with a way back to the form
    assert refused.mimetype == "text/html" and "uploads under way" in page
    assert 'href="/contacts/import">Back<' in page
    elsewhere = upload("https://evil.example/contacts/import").get_data(as_text=True)
    assert 'href="/links">Back to the links<' in elsewhere  # never a link off this site
    assert 1 <= int(refused.headers["Retry-After"]) <= 5
    rdb.delete(key)
    accepted = upload()
    assert accepted.status_code == 302, accepted.get_data(as_text=True)[:300]
    job_path = accepted.headers["Location"]
    deadline = time.monotonic() + 30
    while web.get(job_path + ".json").get_json()["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert rdb.zcard(key) == 0  # the slot went back with the answer
