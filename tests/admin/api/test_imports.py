"""Bulk contact import: background job, progress, bad rows by line, good rows kept."""

from __future__ import annotations

import io
import time

from sqlalchemy import func, select

from admin.extensions import db
from admin.models import Contact, ImportJob, SyncOutbox
from tests.helpers.imports import wait_for_import


def _upload(api, content, filename="contacts.csv"):
    data = content.encode("utf-8") if isinstance(content, str) else content
    return api.client.post(
        "/api/v1/contacts/import",
        data={"file": (io.BytesIO(data), filename)},
        headers=api.headers,
        content_type="multipart/form-data",
    )


def _wait(api, url, deadline=30.0):
    return wait_for_import(lambda u: api.get(u).get_json(), url, deadline)


def test_import_keeps_good_rows_and_reports_bad_ones(api):
    """A bad phone rejects its row; a bad email or name costs only that cell (issue 18: a
    bad email used to drop the whole row)."""
    api.post(
        "/api/v1/contacts",
        {"phone": "+15550000003", "first_name": "Old", "last_name": "X", "fields": {"keep": "yes"}},
    )
    csv_text = (
        "Phone Number,First Name,Surname,E-mail,Favorite Color,\n"
        "(555) 000-0001,Ada,Lovelace,ada@example.test,green,\n"
        "not a phone,Bad,Row,,blue,\n"
        "+1 555 000 0003,New,,,red,\n"
        "\n"
        "555-000-0004,Eve,,nope,,\n"
        '+15550000005,"Multi\nline",,,,\n'
        ",No,Phone,,,\n"
    )
    resp = _upload(api, csv_text)
    assert resp.status_code == 202, resp.get_json()
    job = resp.get_json()
    assert resp.headers["Location"] == job["url"] == f"/api/v1/imports/{job['id']}"
    assert job["filename"] == "contacts.csv"
    job = _wait(api, job["url"])
    assert job["status"] == "done", job
    assert job["total_rows"] == 6
    assert job["processed_rows"] == 6
    assert job["imported_rows"] == 4
    assert job["failed_rows"] == 2
    assert [(e["line"], e["field"], e.get("kept", False)) for e in job["errors"]] == [
        (3, "phone", False),
        (6, "email", True),
        (7, "first_name", True),  # a quoted name over lines 7-8 holds a newline
        (9, "phone", False),
    ]
    found = {c.phone: c for c in db.session.scalars(select(Contact).order_by(Contact.id))}
    ada = found["+15550000001"]
    assert (ada.first_name, ada.last_name, ada.email) == ("Ada", "Lovelace", "ada@example.test")
    assert ada.fields == {"favorite_color": "green"}
    updated = found["+15550000003"]
    assert (updated.first_name, updated.last_name) == ("New", "X")  # empty cells keep values
    assert updated.fields == {"keep": "yes", "favorite_color": "red"}
    # Imported without the bad cell: no email, no first name (a newline is a control character).
    assert (found["+15550000004"].first_name, found["+15550000004"].email) == ("Eve", "")
    assert found["+15550000005"].first_name == ""
    outbox = db.session.execute(
        select(SyncOutbox.entity_id, SyncOutbox.version).where(SyncOutbox.entity == "contact")
    ).all()
    assert (ada.id, ada.version) in outbox and (updated.id, updated.version) in outbox


def test_header_without_phone_is_refused_at_once(api):
    resp = _upload(api, "name,email\nAda,ada@example.test\n")
    assert resp.status_code == 422
    assert resp.get_json()["error"]["field"] == "file"
    empty = _upload(api, "")
    assert empty.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(ImportJob)) == 0


def test_raw_csv_body_and_excel_encoding(api):
    data = b"mobile;x\r\n" + "5550001111;Caf\xe9, au lait\r\n".encode("cp1252")
    resp = api.client.post(
        "/api/v1/contacts/import?filename=raw.csv",
        data=data,
        headers={**api.headers, "Content-Type": "text/csv"},
    )
    assert resp.status_code == 202, resp.get_json()
    job = _wait(api, resp.get_json()["url"])
    assert job["imported_rows"] == 1 and job["filename"] == "raw.csv"
    contact = db.session.scalars(select(Contact)).one()
    assert contact.fields == {"x": "Café, au lait"}
    wrong = api.client.post("/api/v1/contacts/import", json={"a": 1}, headers=api.headers)
    assert wrong.status_code == 415


def test_big_file_answers_before_it_is_imported(api, app):
    app.config["JOB_SHARE"] = 1  # no rests (jobs.Pace): the file's 20 batches, at full speed
    rows = "".join(f"+1555{i:07d},Name{i}\n" for i in range(20_000))
    started = time.monotonic()
    resp = _upload(api, "phone,first_name\n" + rows)
    answered = time.monotonic() - started
    assert resp.status_code == 202
    first = resp.get_json()
    assert first["status"] in ("queued", "running")
    job = _wait(api, first["url"], deadline=60)
    print(f"\nanswered in {answered:.2f} s; 20,000 rows imported")
    assert job["status"] == "done" and job["imported_rows"] == 20_000
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 20_000
    assert (
        db.session.scalar(
            select(func.count()).select_from(SyncOutbox).where(SyncOutbox.entity == "contact")
        )
        == 20_000
    )


def test_a_job_whose_worker_died_is_marked_failed(api, org):
    job = ImportJob(org_id=org.org_id, filename="x.csv", status="running")
    db.session.add(job)
    db.session.commit()
    seen = api.get(f"/api/v1/imports/{job.id}").get_json()
    assert seen["status"] == "failed"
    assert "interrupted" in seen["errors"][-1]["message"]


def test_import_options_by_query(api):
    api.post("/api/v1/contacts", {"phone": "+15550000001", "first_name": "Ada"})
    resp = api.client.post(
        "/api/v1/contacts/import?duplicates=skip&list=Spring&tags=a,b",
        data={
            "file": (
                io.BytesIO(b"phone,first_name\n+15550000001,Not Ada\n+15550000002,Bo\n"),
                "x.csv",
            )
        },
        headers=api.headers,
        content_type="multipart/form-data",
    )
    assert resp.status_code == 202, resp.get_json()
    assert _wait(api, resp.get_json()["url"])["imported_rows"] == 2
    ada = db.session.scalars(select(Contact).where(Contact.phone == "+15550000001")).one()
    assert ada.first_name == "Ada"  # skipped, not updated
    for contact in db.session.scalars(select(Contact)):
        body = api.get(f"/api/v1/contacts/{contact.id}").get_json()
        assert (body["lists"], sorted(body["tags"])) == (["Spring"], ["a", "b"])
    for query, field in (
        ("duplicates=merge", "duplicates"),
        ("list=%01", "list"),
        ("tags=" + ",".join("t" * 30), "tags"),
    ):
        bad = _upload_q(api, query)
        assert bad.status_code == 422, (query, bad.get_json())
        assert bad.get_json()["error"]["field"] == field, (query, bad.get_json())


def _upload_q(api, query):
    return api.client.post(
        f"/api/v1/contacts/import?{query}",
        data={"file": (io.BytesIO(b"phone\n+15550000009\n"), "x.csv")},
        headers=api.headers,
        content_type="multipart/form-data",
    )
