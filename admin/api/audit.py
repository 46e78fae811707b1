"""API route: the organisation's audit log, for its owners."""

from __future__ import annotations

from flask import Response, g

from admin.api.auth import org_id
from admin.api.blueprint import bp
from admin.api.bodies import respond
from admin.api.errors import ApiError
from admin.api.openapi import Query, doc
from admin.api.params import query_choice, query_int
from admin.schemas import from_row
from admin.schemas.audit import AuditEventOut, AuditPage
from admin.services import audit, compliance, inputs

DEFAULT_PAGE = 50


def require_owner() -> None:
    """403 unless the token is an active owner's."""
    if not compliance.is_owner(org_id(), g.get("user_id")):
        raise ApiError(403, "forbidden", "only an owner of the organisation may do this")


@bp.get("/audit")
@doc(
    "The audit log, newest first: who changed what and when (owners only)",
    response=AuditPage,
    query=(
        Query("kind", "string", f"only this kind: {' | '.join(audit.KINDS)}"),
        Query("limit", "integer", f"page size, 1-{audit.MAX_PAGE} (default {DEFAULT_PAGE})"),
        Query("cursor", "string", "the next of the previous page"),
    ),
)
def audit_log() -> Response:
    require_owner()
    kind = query_choice("kind", audit.KINDS, "")
    limit = query_int("limit", DEFAULT_PAGE, 1, audit.MAX_PAGE)
    before = query_int("cursor", 0, 0, inputs.MAX_ID)
    rows, next_id = audit.page(org_id(), kind=kind or None, before_id=before, limit=limit)
    return respond(
        AuditPage(
            events=[from_row(AuditEventOut, e) for e in rows],
            next=str(next_id) if next_id is not None else None,
        )
    )
