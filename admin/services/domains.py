"""Domains: an organisation's branded hostnames. A new domain is pending until DNS proves its
organisation controls it (admin/services/ownership.py); several organisations may claim a
hostname, one holds it verified, and no answer here reveals another's claim."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from admin.extensions import db
from admin.models import Domain
from admin.services import audit, inputs, outbox
from admin.services.errors import Conflict, NotFound, ValidationError
from admin.services.lookup import owned
from core.hostnames import HostnameError, normalize_hostname

AUDITED = ("hostname", "fallback_url", "verified_via")  # what the audit log keeps of a domain


def hostname(value: Any, field: str = "hostname") -> str:
    if not isinstance(value, str):
        raise ValidationError(field, f"{field} must be a string")
    try:
        return normalize_hostname(value)
    except HostnameError as exc:
        raise ValidationError(field, f"{field}: {exc}") from None


def create_domain(org_id: int, hostname_text: Any, fallback_url: Any = None) -> Domain:
    """A new domain of ``org_id``, committed with its outbox row."""
    host = hostname(hostname_text)
    fallback = inputs.plain_url("fallback_url", fallback_url) or None
    taken = select(Domain.id).where(Domain.hostname == host, Domain.org_id == org_id)
    if db.session.scalar(taken) is not None:
        raise Conflict("hostname", f"{host} is already one of your domains")
    version = outbox.next_version()
    domain = Domain(
        org_id=org_id,
        hostname=host,
        fallback_url=fallback,
        version=version,
        verification_token=secrets.token_hex(16),  # per claim: proves this claim, not the name
    )
    db.session.add(domain)
    try:
        db.session.flush()
    except IntegrityError:  # the same organisation added it twice at once
        db.session.rollback()
        raise Conflict("hostname", f"{host} is already one of your domains") from None
    outbox.enqueue("domain", domain.id, version)
    audit.record(org_id, "domain.create", host, after=audit.snapshot(domain, AUDITED))
    db.session.commit()
    return domain


def update_domain(org_id: int, domain_id: int, changes: Mapping[str, Any]) -> Domain:
    """Change a domain's fallback URL (the hostname is fixed: issued URLs name it)."""
    domain = get_domain(org_id, domain_id)
    if "hostname" in changes and hostname(changes["hostname"]) != domain.hostname:
        raise ValidationError("hostname", "a domain's hostname cannot change; add a new domain")
    before = audit.snapshot(domain, AUDITED)
    if "fallback_url" in changes:
        domain.fallback_url = inputs.plain_url("fallback_url", changes["fallback_url"]) or None
    domain.version = outbox.next_version()
    outbox.enqueue("domain", domain.id, domain.version)
    audit.record(
        org_id,
        "domain.update",
        domain.hostname,
        before=before,
        after=audit.snapshot(domain, AUDITED),
    )
    db.session.commit()
    return domain


def get_domain(org_id: int, domain_id: int) -> Domain:
    return owned(Domain, org_id, domain_id, "domain_id", "no such domain")


def list_domains(org_id: int) -> list[Domain]:
    return list(
        db.session.scalars(select(Domain).where(Domain.org_id == org_id).order_by(Domain.id))
    )


def domain_by_hostname(org_id: int, hostname_text: Any, field: str = "domain") -> Domain:
    """The organisation's domain named ``hostname_text``; another's is NotFound like no domain."""
    host = hostname(hostname_text, field)
    domain = db.session.scalar(
        select(Domain).where(Domain.hostname == host, Domain.org_id == org_id)
    )
    if domain is None:
        raise NotFound(field, f"{host} is not one of your domains")
    return domain
