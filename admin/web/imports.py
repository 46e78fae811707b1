"""CSV import of contacts: upload, then a progress bar and the bad rows by line number.
The work runs in admin.services.imports' background thread; the page polls the job."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import jsonify, redirect, render_template, request
from flask_login import login_required
from werkzeug.datastructures import FileStorage

from admin.appsettings import running_app
from admin.downloads import csv_attachment
from admin.extensions import db
from admin.models import ImportJob
from admin.services import audit, import_policy, imports, metrics
from admin.services.errors import ServiceError
from admin.web import exports, queries
from admin.web.auth import current_org_id
from admin.web.blueprint import bp, or_404
from admin.web.forms import ImportForm
from admin.web.plain import plain

MAX_CSV_BYTES = 50 * 1024 * 1024


def job_json(job: ImportJob) -> dict[str, Any]:
    total = job.total_rows or 0
    return {
        "id": job.id,
        "status": job.status,
        "filename": job.filename,
        "total_rows": total,
        "processed_rows": job.processed_rows,
        "imported_rows": job.imported_rows,
        "failed_rows": job.processed_rows - job.imported_rows,
        "percent": 100
        if job.status == "done"
        else (int(job.processed_rows * 100 / total) if total else 0),
        # The cells of rejected rows stay out of the page (the CSV download has them).
        "errors": [{k: v for k, v in e.items() if k != "cells"} for e in job.errors[:1000]],
        "rejected": sum(1 for e in job.errors if not e.get("kept")),
    }


@bp.route("/contacts/import", methods=["GET", "POST"])
@login_required
def contacts_import() -> Any:
    # An upload takes one of its organisation's upload slots, shared with the API's, before
    # its body is read (admin/api/limits.py): a burst of them is refused, not parsed at once.
    if request.method == "POST" and (busy := exports.refused()):
        return busy
    form = ImportForm()
    if form.validate_on_submit():
        file = form.file.data
        if not isinstance(file, FileStorage) or not file.filename:
            form.file.errors.append("Choose a CSV file.")  # type: ignore[attr-defined]
        else:
            data = file.read(MAX_CSV_BYTES + 1)
            if len(data) > MAX_CSV_BYTES:
                form.file.errors.append("The file is larger than 50 MB; split it.")  # type: ignore[attr-defined]
            else:
                try:
                    chosen = import_policy.options(
                        form.duplicates.data, form.list_name.data or "", form.tags.data or ""
                    )
                    job = imports.start_import(
                        running_app(), current_org_id(), file.filename, data, chosen
                    )
                except ServiceError as exc:
                    db.session.rollback()
                    target = {"list": form.list_name, "tags": form.tags}.get(exc.field or "")
                    (target or form.file).errors.append(plain(exc.message))  # type: ignore[attr-defined]
                else:
                    return redirect(f"/contacts/imports/{job.id}")
    status = 400 if form.is_submitted() else 200
    org_id = current_org_id()
    return render_template(
        "contacts/import.html",
        title="Import contacts",
        form=form,
        lists=queries.list_names(org_id),
        tags=queries.tag_names(org_id),
    ), status


def _job(job_id: int) -> ImportJob:
    return or_404(imports.get_job, current_org_id(), job_id)


@bp.get("/contacts/imports/<int:job_id>")
@login_required
def import_page(job_id: int) -> Any:
    job = _job(job_id)
    return render_template("contacts/import_job.html", title="Import", job=job_json(job))


@bp.get("/contacts/imports/<int:job_id>.json")
@login_required
def import_json(job_id: int) -> Any:
    response = jsonify(job_json(_job(job_id)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/contacts/imports/<int:job_id>/rejected.csv")
@login_required
@exports.limited
def import_rejected_csv(job_id: int) -> Any:
    """The rejected rows as they were in the file, with the reason first: fix, then import the
    file again."""
    job = _job(job_id)
    audit.record(job.org_id, "export.import_rejected", f"import {job.id}")
    db.session.commit()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["line", "reason", *job.header])
    for e in job.errors:
        if e.get("kept"):
            continue
        # Cells go back as they came, except that a formula-like one is defused.
        cells = [metrics.neutralise(str(c)) for c in e.get("cells", [])]
        writer.writerow([e.get("line", ""), e.get("message", ""), *cells])
    return csv_attachment(out.getvalue(), f"import-{job.id}-rejected.csv")
