"""Bulk contact import from a CSV file, processed in the background with progress in import_jobs.

The request checks the header (a phone column is required), records the job and hands the
text to a worker process (admin.services.jobs: bounded, niced, organisations in turn), so a big
file holds up neither the request nor the other requests of the admin process. The worker
upserts contacts in batches (one transaction per batch: the contacts,
their outbox rows and the job's progress), reports bad rows by line number and keeps the good
ones. An existing contact (same phone) is updated: non-empty cells replace its values, custom
fields are merged.

Until the job ends, the admin process that accepted it holds a Postgres advisory lock named
after the job (jobs.LockHolder); a job that is "queued" or "running" with nobody holding its lock
died with its process and is marked failed when next read.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import func, select, text

from admin.extensions import db
from admin.models import Contact, ImportJob
from admin.services import bulk, import_policy, imports_limits, inputs, jobs
from admin.services.errors import ServiceError, ValidationError
from admin.services.lookup import owned
from admin.services.outbox import NOTIFY_CHANNEL
from core import logs

log = logging.getLogger(__name__)

BATCH_ROWS = 1000
MAX_ERRORS = 1000  # bad rows kept on the job; the count of failed rows is always exact
LOCK_SPACE = 0x5EED  # first key of the two-key advisory lock: (LOCK_SPACE, job id)

# Header spellings (lowercase, runs of other characters made "_") of the built-in columns.
ALIASES = {
    "phone": {
        "phone", "phone_number", "phonenumber", "phone_no", "mobile", "mobile_number",
        "mobile_phone", "mobilephone", "cell", "cell_phone", "cellphone", "cell_number",
        "telephone", "tel", "number", "msisdn", "sms", "sms_number", "phone_1",
    },
    "first_name": {"first_name", "firstname", "first", "given_name", "givenname", "fname", "forename"},
    "last_name": {"last_name", "lastname", "last", "surname", "family_name", "familyname", "lname"},
    "email": {"email", "email_address", "emailaddress", "e_mail", "mail", "e_mail_address"},
}  # fmt: skip
_NOT_NAME = re.compile(r"[^a-z0-9]+")

_UPSERT = """
    WITH rows AS (
        SELECT * FROM unnest(
            CAST(:phones AS text[]), CAST(:first_names AS text[]), CAST(:last_names AS text[]),
            CAST(:emails AS text[]), CAST(:fields AS text[])
        ) AS r(phone, first_name, last_name, email, fields)
    ), upserted AS (
        INSERT INTO contacts (org_id, phone, first_name, last_name, email, fields, version)
        SELECT :org_id, phone, first_name, last_name, email, CAST(fields AS jsonb),
               nextval('record_versions')
        FROM rows
        ON CONFLICT (org_id, phone) {on_conflict}
        RETURNING id, version, phone
    ), outboxed AS (
        INSERT INTO sync_outbox (entity, entity_id, version)
        SELECT 'contact', id, version FROM upserted
    )
    SELECT phone FROM upserted
    """
# One statement per duplicate policy (import_policy.DUPLICATES holds constants only).
_UPSERTS = {
    policy: text(_UPSERT.format(on_conflict=clause))
    for policy, clause in import_policy.DUPLICATES.items()
}


@dataclass
class Columns:
    """Where each value sits in a row: built-in columns by index, the rest as custom fields."""

    builtin: dict[str, int]
    custom: dict[str, int] = field(default_factory=dict)


def header_name(cell: str) -> str:
    return _NOT_NAME.sub("_", cell.strip().lower()).strip("_")


def map_header(header: list[str]) -> Columns:
    columns = Columns(builtin={})
    for index, cell in enumerate(header):
        name = header_name(cell)
        if not name:
            continue  # an unnamed column carries nothing we could merge
        builtin = next((key for key, names in ALIASES.items() if name in names), None)
        if builtin and builtin not in columns.builtin:
            columns.builtin[builtin] = index
        else:
            columns.custom[name[:64]] = index
    if "phone" not in columns.builtin:
        raise ValidationError(
            "file", "the CSV's header row has no phone column (name one 'phone' or 'mobile')"
        )
    return columns


def decode(data: bytes) -> str:
    """The file's text: UTF-8 (with or without a BOM), else Windows-1252 as Excel writes it."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def delimiter(source: str) -> str:
    """Comma, or the semicolon or tab that spreadsheets in some locales write instead, as the
    header line shows."""
    first_line = source.split("\n", 1)[0]
    return max((",", ";", "\t"), key=first_line.count) if first_line else ","


def read_rows(source: str) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and the data rows, each with the line it starts on (the header is line 1)."""
    reader = csv.reader(io.StringIO(source, newline=""), delimiter=delimiter(source))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ValidationError("file", f"the header row is not valid CSV: {exc}") from None
    if not header or not any(cell.strip() for cell in header):
        raise ValidationError("file", "the file is empty: it needs a header row")

    def rows() -> Iterator[tuple[int, list[str]]]:
        line = reader.line_num
        while True:
            start = line + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, [f"\x00{exc}"]  # reported as a bad row by the caller
                return
            line = reader.line_num
            if any(cell.strip() for cell in row):
                yield start, row

    return header, rows()


def start_import(
    app: Flask,
    org_id: int,
    filename: str,
    data: bytes,
    options: import_policy.ImportOptions | None = None,
) -> ImportJob:
    """Check the header, record the job and queue it for a worker (in an app like ``app``);
    returns the queued job. ``options``: the duplicate policy, a list and tags for every
    imported contact (default: update duplicates, no list, no tags)."""
    options = options or import_policy.ImportOptions()
    imports_limits.check_size(data, int(app.config.get("IMPORT_MAX_BYTES") or 0))
    source = decode(data)
    header, _ = read_rows(source)
    columns = map_header(header)
    imports_limits.check_width(len(columns.custom))
    name = inputs.text("filename", filename, 255)[:255] if isinstance(filename, str) else ""
    imports_limits.make_room(org_id, LOCK_SPACE, int(app.config.get("IMPORTS_PER_ORG") or 0))
    job = ImportJob(org_id=org_id, filename=name, status="queued", header=header[:200])
    db.session.add(job)
    db.session.flush()
    # Held from before the commit: a concurrent upload's make_room counts this job already.
    holder = jobs.holder(db.engine.url)
    holder.hold(LOCK_SPACE, job.id)
    try:
        db.session.commit()
    except BaseException:
        holder.let_go(LOCK_SPACE, job.id)
        raise
    job_id = job.id  # the callback runs in another thread, outside this session
    share = float(app.config.get("JOB_SHARE") or 1)  # jobs.Pace
    jobs.runner(app).submit(
        org_id,
        jobs.AppRecipe.of(app),
        run,
        (job_id, org_id, source, columns, options, share),
        lambda future: _ended(app, holder, job_id, future),
    )
    return job


def run(
    job_id: int,
    org_id: int,
    source: str,
    columns: Columns,
    options: import_policy.ImportOptions,
    share: float = 1.0,
) -> None:
    """The job, in a worker process (admin.services.jobs), in an app context there; it works
    ``share`` of its time (jobs.Pace)."""
    try:
        process(job_id, org_id, source, columns, options, share)
    except Exception:
        log.exception("import %s failed", job_id)
        db.session.rollback()
        _fail(job_id, "the import stopped on an error")


def _fail(job_id: int, message: str) -> None:
    job = db.session.get(ImportJob, job_id)
    if job is not None and job.status in ("queued", "running"):
        job.status = "failed"
        job.errors = [*job.errors, {"line": 0, "message": message}]
        job.finished_at = func.now()
        db.session.commit()


def _ended(app: Flask, holder: jobs.LockHolder, job_id: int, future: Future[None]) -> None:
    """In the accepting process, once the worker is done: the lock goes, and a job whose
    worker died (it could not say so itself) is failed."""
    try:
        if future.exception() is not None:
            log.error("import %s: its worker failed: %r", job_id, future.exception())
            with app.app_context():
                try:
                    _fail(job_id, "the import stopped on an error")
                finally:
                    db.session.remove()
    finally:
        holder.let_go(LOCK_SPACE, job_id)


def process(
    job_id: int,
    org_id: int,
    source: str,
    columns: Columns,
    options: import_policy.ImportOptions | None = None,
    share: float = 1.0,
) -> None:
    """Import every row of ``source`` into job ``job_id`` (runs in a worker process), resting
    between batches so as to work ``share`` of the time (jobs.Pace). A
    rejected row's entry keeps its cells (``cells``) for the CSV of rejected rows; a row that
    lost a bad cell is imported and its entry says ``kept``."""
    options = options or import_policy.ImportOptions()
    _, row_iter = read_rows(source)
    rows = list(row_iter)
    job = db.session.get(ImportJob, job_id)
    if job is None:
        return
    job.status, job.total_rows = "running", len(rows)
    db.session.commit()
    errors: list[dict[str, Any]] = []
    failed = imported = 0
    pace = jobs.Pace(share)
    for start in range(0, len(rows), BATCH_ROWS):
        if start:
            pace.rest()  # the requests' turn (jobs.Pace)
        good: dict[str, dict[str, Any]] = {}  # by phone: a repeated phone is merged
        source_rows: dict[str, tuple[int, list[str]]] = {}  # by phone: where it came from
        for line, row in rows[start : start + BATCH_ROWS]:
            try:
                if row and row[0].startswith("\x00"):
                    raise ValidationError(None, f"not valid CSV: {row[0][1:]}")
                result = import_policy.row_values(row, columns.builtin, columns.custom)
            except ServiceError as exc:
                failed += 1
                if len(errors) < MAX_ERRORS:
                    entry = {"line": line, "message": exc.message, "cells": row[:200]}
                    errors.append({**entry, "field": exc.field} if exc.field else entry)
                continue
            for dropped in result.dropped:
                if len(errors) < MAX_ERRORS:
                    message = f"{dropped.message}; the rest of the row was imported"
                    errors.append(
                        {"line": line, "message": message, "field": dropped.field, "kept": True}
                    )
            values = result.values
            imported += 1
            earlier = good.get(values["phone"])
            if earlier is not None:
                values = _merged(earlier, values)
            good[values["phone"]] = values
            source_rows[values["phone"]] = (line, row)
        if good:
            # In phone order, so two imports touching the same contacts lock them in one order.
            written = _upsert(org_id, [good[phone] for phone in sorted(good)], options.duplicates)
            if options.duplicates != "skip":
                for phone in sorted(set(good) - written):  # over MAX_FIELDS with the file's
                    line, row = source_rows[phone]
                    failed, imported = failed + 1, imported - 1
                    if len(errors) < MAX_ERRORS:
                        errors.append({**import_policy.too_wide(), "line": line, "cells": row[:200]})
            _file(org_id, sorted(good), options)
        job.processed_rows = min(start + BATCH_ROWS, len(rows))
        job.imported_rows = imported
        job.errors = list(errors)
        db.session.commit()
    job.status = "done"
    job.finished_at = func.now()
    db.session.commit()
    logs.event(log, "import done", job_id=job_id, imported=imported, failed=failed)


def _merged(earlier: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    merged = {k: (later[k] or earlier[k]) for k in ("phone", "first_name", "last_name", "email")}
    merged["fields"] = {**earlier["fields"], **later["fields"]}
    return merged


def _file(org_id: int, phones: list[str], options: import_policy.ImportOptions) -> None:
    """Put the batch's contacts (skipped duplicates too: they are in the file) on the list
    and give them the tags."""
    if not options.list_name and not options.tags:
        return
    ids = list(
        db.session.scalars(
            select(Contact.id).where(Contact.org_id == org_id, Contact.phone.in_(phones))
        )
    )
    if options.list_name:
        bulk.add_to_list(org_id, ids, options.list_name)
    for tag in options.tags:
        bulk.add_tag(org_id, ids, tag)


def _upsert(org_id: int, rows: list[dict[str, Any]], duplicates: str = "update") -> set[str]:
    """Write the rows; returns the phones written (a skipped duplicate is not, nor a contact
    that would end up with more than MAX_FIELDS fields)."""
    params = {
        "org_id": org_id,
        "phones": [r["phone"] for r in rows],
        "first_names": [r["first_name"] for r in rows],
        "last_names": [r["last_name"] for r in rows],
        "emails": [r["email"] for r in rows],
        "fields": [json.dumps(r["fields"]) for r in rows],
    }
    written = set(db.session.scalars(_UPSERTS[duplicates], params))
    db.session.execute(text("SELECT pg_notify(:channel, 'contact')"), {"channel": NOTIFY_CHANNEL})
    return written


def get_job(org_id: int, job_id: int) -> ImportJob:
    """The organisation's import job; one whose process died is marked failed first."""
    job = owned(ImportJob, org_id, job_id, "import_id", "no such import")
    if job.status in ("queued", "running") and not _worker_alive(job.id):
        db.session.refresh(job)  # it may have finished while we looked
        if job.status in ("queued", "running"):
            job.status = "failed"
            job.errors = [
                *job.errors,
                {"line": 0, "message": "the import was interrupted; upload the file again"},
            ]
            job.finished_at = func.now()
            db.session.commit()
    return job


def _worker_alive(job_id: int) -> bool:
    """True while some process holds the job's advisory lock (the one that accepted it). On
    the session's own connection: a request never needs a second one from the pool."""
    params = {"a": LOCK_SPACE, "b": job_id}
    free = db.session.scalar(text("SELECT pg_try_advisory_lock(:a, :b)"), params)
    if free:
        db.session.execute(text("SELECT pg_advisory_unlock(:a, :b)"), params)
    return not free
