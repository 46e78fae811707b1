"""CSV import of contacts: upload, then a progress bar and the bad rows by line number.
The work runs in admin.services.imports' background thread; the page polls the job."""

from __future__ import annotations

from typing import Any

from flask import abort, jsonify, redirect, render_template
from flask_login import login_required
from werkzeug.datastructures import FileStorage

from admin.appsettings import running_app
from admin.extensions import db
from admin.models import ImportJob
from admin.services import imports
from admin.services.errors import NotFound, ServiceError
from admin.web.auth import current_org_id
from admin.web.blueprint import bp
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
        "errors": job.errors[:1000],
    }


@bp.route("/contacts/import", methods=["GET", "POST"])
@login_required
def contacts_import() -> Any:
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
                    job = imports.start_import(running_app(), current_org_id(), file.filename, data)
                except ServiceError as exc:
                    db.session.rollback()
                    form.file.errors.append(plain(exc.message))  # type: ignore[attr-defined]
                else:
                    return redirect(f"/contacts/imports/{job.id}")
    status = 400 if form.is_submitted() else 200
    return render_template("contacts/import.html", title="Import contacts", form=form), status


def _job(job_id: int) -> ImportJob:
    try:
        return imports.get_job(current_org_id(), job_id)
    except NotFound:
        abort(404)


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
