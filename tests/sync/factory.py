"""Rows written the way the admin writes them: the row, its new version and its outbox row in
one transaction (admin.services.outbox). Sync tests use these instead of the API so that they
do not depend on the API's validation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from admin.extensions import db
from admin.models import Contact, Domain, IssuedCode, Link
from admin.services.outbox import enqueue, next_version
from core.codes import new_code


def domain(org_id: int, hostname: str, fallback_url: str | None = None) -> Domain:
    row = Domain(
        org_id=org_id,
        hostname=hostname,
        fallback_url=fallback_url,
        version=next_version(),
        verified_at=datetime.now(UTC),  # only verified domains serve (docs/decisions/0007)
    )
    db.session.add(row)
    db.session.flush()
    enqueue("domain", row.id, row.version)
    db.session.commit()
    return row


def link(org_id: int, dom: Domain, destination: str = "https://example.org/a", **kw: Any) -> Link:
    row = Link(
        org_id=org_id, domain_id=dom.id, destination=destination, version=next_version(), **kw
    )
    db.session.add(row)
    db.session.flush()
    enqueue("link", row.id, row.version)
    db.session.commit()
    return row


def contact(org_id: int, phone: str, **kw: Any) -> Contact:
    row = Contact(org_id=org_id, phone=phone, version=next_version(), **kw)
    db.session.add(row)
    db.session.flush()
    enqueue("contact", row.id, row.version)
    db.session.commit()
    return row


def update(row: Link | Contact | Domain, **changes: Any) -> int:
    """Change a row, give it a new version and tell sync; returns the version."""
    for name, value in changes.items():
        setattr(row, name, value)
    version = next_version()
    row.version = version
    entity = {Link: "link", Contact: "contact", Domain: "domain"}[type(row)]
    enqueue(entity, row.id, version)
    db.session.commit()  # returns once committed: the caller's clock for sync lag starts here
    return version


def delete(row: Link | Contact | Domain) -> int:
    entity = {Link: "link", Contact: "contact", Domain: "domain"}[type(row)]
    version = next_version()
    row_id = row.id
    payload = {"hostname": row.hostname} if isinstance(row, Domain) else None
    db.session.delete(row)
    enqueue(entity, row_id, version, payload)
    db.session.commit()
    return version


def issue(org_id: int, lnk: Link, contact_ids: list[int | None]) -> dict[int | None, str]:
    codes: dict[int | None, str] = {}
    for cid in contact_ids:
        code = new_code()
        db.session.add(IssuedCode(code=code, org_id=org_id, link_id=lnk.id, contact_id=cid))
        codes[cid] = code
    enqueue("codes", lnk.id, 0, {"codes": list(codes.values())})
    db.session.commit()
    return codes
