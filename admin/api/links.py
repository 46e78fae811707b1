"""Links: list, create, read, update, issue codes, metrics."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from sqlalchemy import select

from admin.api import bp
from admin.api.auth import org_id
from admin.extensions import db
from admin.models import Link


@bp.get("/links")
def list_links() -> Any:
    links = db.session.scalars(select(Link).where(Link.org_id == org_id()).order_by(Link.id)).all()
    return jsonify(links=[{"id": link.id, "name": link.name} for link in links])
