"""API routes: bulk contact import from CSV, and the import job to poll."""

from __future__ import annotations

from flask import Response, request, url_for

from admin.api.auth import org_id
from admin.api.blueprint import bp
from admin.api.bodies import respond
from admin.api.errors import ApiError
from admin.api.openapi import Query, doc
from admin.api.params import query_choice, query_str
from admin.appsettings import running_app
from admin.models import ImportJob
from admin.schemas.resources import ImportJobOut, ImportRowError
from admin.services import import_policy, imports

CSV_UPLOAD = {
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "properties": {"file": {"type": "string", "contentMediaType": "text/csv"}},
            "required": ["file"],
        }
    },
    "text/csv": {"schema": {"type": "string"}},
}


def job_out(job: ImportJob) -> ImportJobOut:
    return ImportJobOut(
        id=job.id,
        status=job.status,  # type: ignore[arg-type]
        filename=job.filename,
        total_rows=job.total_rows,
        processed_rows=job.processed_rows,
        imported_rows=job.imported_rows,
        failed_rows=job.processed_rows - job.imported_rows,
        errors=[
            ImportRowError(
                line=e.get("line", 0),
                message=e.get("message", ""),
                field=e.get("field"),
                kept=bool(e.get("kept")),
            )
            for e in job.errors
        ],
        url=url_for("api.get_import", job_id=job.id),
        created_at=job.created_at,
        finished_at=job.finished_at,
    )


def _upload() -> tuple[str, bytes]:
    """(filename, bytes) of a multipart file field, or of a raw text/csv body."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file") or next(iter(request.files.values()), None)
        if upload is None:
            raise ApiError(400, "bad_request", "send the CSV as the form field 'file'", "file")
        return upload.filename or "", upload.read()
    if request.mimetype in ("text/csv", "text/plain", "application/octet-stream"):
        return query_str("filename"), request.get_data()
    raise ApiError(
        415,
        "unsupported_media_type",
        "send the CSV as multipart/form-data (field 'file') or as a text/csv body",
        "file",
    )


@bp.post("/contacts/import")
@doc(
    "Import contacts from a CSV file (in the background)",
    response=ImportJobOut,
    status=202,
    request_media=CSV_UPLOAD,
    description="A header row names the columns: a phone column is required; first_name, "
    "last_name and email are recognised by name (common spellings too); every other column "
    "becomes a custom field (header lowercased, other characters made '_'). Existing "
    "contacts (same phone) are updated unless duplicates says otherwise. Poll the job's url "
    "for progress; a row with a bad phone is rejected, a bad email, name or field is left "
    "out of its row (reported with kept: true), and the good rows are kept.",
    query=(
        Query("duplicates", "string", "update (default), skip, or keep (fill only what is empty)"),
        Query("list", "string", "a list to add every imported contact to"),
        Query("tags", "string", "tags for every imported contact, comma separated"),
    ),
)
def import_contacts() -> Response:
    chosen = import_policy.options(
        query_choice("duplicates", tuple(import_policy.DUPLICATES), "update"),
        query_str("list"),
        query_str("tags"),
    )
    filename, data = _upload()
    job = imports.start_import(running_app(), org_id(), filename, data, chosen)
    out = job_out(job)
    return respond(out, 202, headers={"Location": out.url})


@bp.get("/imports/<int:job_id>")
@doc("An import job's progress and bad rows", response=ImportJobOut)
def get_import(job_id: int) -> Response:
    return respond(job_out(imports.get_job(org_id(), job_id)))
