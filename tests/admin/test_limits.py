"""Limits per organisation (issue 15): requests per token per minute, requests in flight per
organisation, imports at once, and the size and width of an import. Over a limit: 429 with
Retry-After, never 500. And the flood of issue 15 against a real admin process."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import httpx
import psycopg
import redis
from flask import Flask
from sqlalchemy import select

from admin.api import limits
from admin.extensions import db
from admin.models import Contact, ImportJob
from admin.services import imports
from admin.services.orgs import NewOrg
from core import config
from tests.conftest import Api, Servers
from tests.helpers.threads import in_threads
from tests.servers import http_role

FLOOD = 32  # imports at once from one organisation, as in the attack
READS = 150  # the other organisation's requests, quiet and during the flood
# The other organisation's p99 during the flood over its p99 on a quiet server. Without the
# limits it stalled for 30 s (a ratio in the thousands) and 10 imports answered 500. With them,
# what is left is the burst itself: 32 uploads share the admin's 16 threads, its GIL and a
# 2-core machine with the other organisation for a second, which cost it x3.6 to x14 at its
# p99 (115 to 510 ms) on a shared machine; the margin is for that, not for a stall.
MAX_P99_RATIO = 25.0


def _csv_upload(api: Api, text: str) -> object:
    return api.client.post(
        "/api/v1/contacts/import",
        data={"file": (io.BytesIO(text.encode()), "c.csv")},
        headers=api.headers,
        content_type="multipart/form-data",
    )


def _retry_after(resp: object, most: int) -> int:
    seconds = int(resp.headers["Retry-After"])  # type: ignore[attr-defined]
    assert 1 <= seconds <= most
    return seconds


def test_a_token_over_its_rate_gets_429_with_retry_after(
    app: Flask, api: Api, other_api: Api
) -> None:
    app.config["API_REQUESTS_PER_MINUTE"] = 5
    assert [api.get("/api/v1/links").status_code for _ in range(5)] == [200] * 5
    over = api.get("/api/v1/links")
    assert over.status_code == 429
    assert over.get_json()["error"]["code"] == "too_many_requests"
    _retry_after(over, 60)
    # Another organisation's token has its own count.
    assert other_api.get("/api/v1/links").status_code == 200


def test_requests_in_flight_per_organisation(app: Flask, api: Api, other_api: Api) -> None:
    """A streamed export holds its slot until the server closes it; a request over the limit
    is refused at once, and another organisation is not counted with it."""
    app.config["API_CONCURRENT_PER_ORG"] = 2
    link = api.post("/api/v1/domains", {"hostname": "go.acme.test"})
    link = api.post(
        "/api/v1/links", {"destination": "https://example.org/", "domain": "go.acme.test"}
    ).get_json()
    export = f"/api/v1/links/{link['id']}/export.csv"
    held = [api.get(export, buffered=False) for _ in range(2)]
    assert [r.status_code for r in held] == [200, 200]
    refused = api.get("/api/v1/links")
    assert refused.status_code == 429, refused.get_json()
    _retry_after(refused, 5)
    assert other_api.get("/api/v1/links").status_code == 200
    # As the server does after the last chunk: the slot goes back. Last first: each stream
    # keeps its request context pushed in this one thread while it is open.
    for r in reversed(held):
        r.close()
    assert api.get("/api/v1/links").status_code == 200


def test_a_dead_process_slot_expires(app: Flask, api: Api, org: object, rdb: redis.Redis) -> None:
    """Leases of a process killed mid-request stop counting when they expire."""
    app.config["API_CONCURRENT_PER_ORG"] = 1
    key = f"{limits.BUSY_PREFIX}{org.org_id}"  # type: ignore[attr-defined]
    seconds, micros = rdb.time()
    now = seconds + micros / 1e6
    rdb.zadd(key, {"alive": now + 60})
    assert api.get("/api/v1/links").status_code == 429
    rdb.zadd(key, {"alive": now - 1})  # its lease ran out
    assert api.get("/api/v1/links").status_code == 200


def test_imports_at_once_per_organisation(
    app: Flask, api: Api, other_api: Api, org: object, clean: Servers
) -> None:
    """An import counts while some process holds its advisory lock (as a running import's
    thread does); one whose process died (no lock) does not."""
    app.config["IMPORTS_PER_ORG"] = 1
    running = ImportJob(org_id=org.org_id, filename="big.csv", status="running", header=[])  # type: ignore[attr-defined]
    dead = ImportJob(org_id=org.org_id, filename="old.csv", status="running", header=[])  # type: ignore[attr-defined]
    db.session.add_all([running, dead])
    db.session.commit()
    csv_text = "phone\n+15550001111\n"
    with psycopg.connect(config.to_libpq(clean.database_url), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", (imports.LOCK_SPACE, running.id))
        busy = _csv_upload(api, csv_text)
        assert busy.status_code == 429, busy.get_json()
        assert busy.get_json()["error"]["field"] == "file"
        _retry_after(busy, 60)
        assert _csv_upload(other_api, csv_text).status_code == 202  # its own count
    assert _csv_upload(api, csv_text).status_code == 202


def test_an_import_too_large_or_too_wide_is_refused(app: Flask, api: Api) -> None:
    app.config["IMPORT_MAX_BYTES"] = 4096
    big = _csv_upload(api, "phone,name\n" + "+15550001111,x\n" * 400)
    assert big.status_code == 413 and big.get_json()["error"]["field"] == "file"
    app.config["IMPORT_MAX_BYTES"] = 1024 * 1024
    # The attack of issue 15: 20,000 columns gave one contact 20,000 fields.
    wide = _csv_upload(api, "phone," + ",".join(f"c{i}" for i in range(20_000)) + "\n+15550001111\n")
    assert wide.status_code == 422, wide.get_json()
    assert wide.get_json()["error"]["field"] == "file"
    assert "at most 100" in wide.get_json()["error"]["message"]
    fits = _csv_upload(api, "phone," + ",".join(f"c{i}" for i in range(100)) + "\n+15550001111\n")
    assert fits.status_code == 202, fits.get_json()


def test_an_import_cannot_push_a_contact_over_100_fields(api: Api) -> None:
    """Two files of 60 columns each: the second would give the contact 120 fields. Its row is
    reported and the contact stays as it was, editable through the API."""
    first = {f"a{i}": "x" for i in range(60)}
    contact = api.post("/api/v1/contacts", {"phone": "+15550001111", "fields": first}).get_json()
    header = ",".join(f"b{i}" for i in range(60))
    text = f"phone,{header}\n+15550001111,{','.join('y' * 60)}\n+15550002222,{','.join('z' * 60)}\n"
    job = _csv_upload(api, text).get_json()
    for _ in range(200):
        job = api.get(job["url"]).get_json()
        if job["status"] in ("done", "failed"):
            break
    assert job["status"] == "done", job
    assert (job["imported_rows"], job["failed_rows"]) == (1, 1)
    assert [(e["line"], e["field"]) for e in job["errors"]] == [(2, "fields")]
    db.session.rollback()
    kept = db.session.scalar(select(Contact).where(Contact.id == contact["id"]))
    assert kept is not None and kept.fields == first
    edit = api.patch(f"/api/v1/contacts/{contact['id']}", {"first_name": "Ada"})
    assert edit.status_code == 200, edit.get_json()


def _bearer(org: NewOrg) -> dict[str, str]:
    return {"Authorization": f"Bearer {org.api_token}"}


def _p99(seconds: list[float]) -> float:
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _timed_reads(client: httpx.Client, count: int) -> list[float]:
    took = []
    for _ in range(count):
        start = time.perf_counter()
        answer = client.get("/api/v1/links")
        took.append(time.perf_counter() - start)
        assert answer.status_code == 200, answer.text
    return took


def test_one_organisation_flooding_leaves_another_fast(
    org: NewOrg, other_org: NewOrg, clean: Servers, tmp_path: Path
) -> None:
    """The attack of issue 15 on a real admin process: 32 imports at once from one
    organisation. Each is accepted or refused with 429 and Retry-After (none is a 500), and
    the other organisation's p99 while they run stays near its p99 on a quiet server,
    measured in the same test (a ratio, not a time: CI machines differ)."""
    rows = "".join(f"+1555{i:07d},Name{i},x\n" for i in range(4000))
    upload = ("phone,first_name,note\n" + rows).encode()
    answers: list[httpx.Response] = []
    with http_role("admin", clean.env(), tmp_path, "ADMIN_PORT") as (_proc, base):
        quiet = httpx.Client(base_url=base, headers=_bearer(other_org), timeout=60)
        flooder = httpx.Client(base_url=base, headers=_bearer(org), timeout=60)
        _timed_reads(quiet, 20)  # warm: connections, caches
        baseline = _timed_reads(quiet, READS)
        start = threading.Barrier(FLOOD + 1)

        def flood(_: int) -> None:
            start.wait()
            answers.append(
                flooder.post(
                    "/api/v1/contacts/import", content=upload, headers={"Content-Type": "text/csv"}
                )
            )

        runner = threading.Thread(target=in_threads, args=(flood, range(FLOOD)))
        runner.start()
        start.wait()
        during = _timed_reads(quiet, READS)
        runner.join(120)
        codes = sorted(a.status_code for a in answers)
        # Without the limits, 10 or so of these were 500 (the pool ran dry).
        assert len(codes) == FLOOD and set(codes) <= {202, 429}, codes
        refused = [a for a in answers if a.status_code == 429]
        assert all(1 <= int(a.headers["Retry-After"]) <= 60 for a in refused)
        accepted = [a.json()["url"] for a in answers if a.status_code == 202]
        assert 1 <= len(accepted) <= FLOOD // 2, codes  # a few at once, never all
        for url in accepted:  # what was accepted is imported, not left half done
            for _ in range(600):
                job = flooder.get(url).json()
                if job["status"] not in ("queued", "running"):
                    break
                time.sleep(0.1)
            assert job["status"] == "done", job
    ratio = _p99(during) / _p99(baseline)
    print(
        f"flood: {len(accepted)} accepted, {len(refused)} refused; the other organisation's p99 "
        f"{_p99(baseline) * 1000:.1f} ms quiet, {_p99(during) * 1000:.1f} ms during: x{ratio:.1f}"
    )
    assert ratio < MAX_P99_RATIO, (baseline, during)
