"""API routes: domains (the organisation's branded hostnames) and their DNS verification."""

from __future__ import annotations

from flask import Response

from admin.api.auth import org_id
from admin.api.blueprint import bp
from admin.api.bodies import as_changes, read_json, respond
from admin.api.openapi import doc
from admin.appsettings import dns_servers, edge_cname_target
from admin.models import Domain
from admin.schemas.domains import DnsCheck, DnsRecord, DomainList, DomainOut
from admin.schemas.resources import DomainCreate, DomainUpdate
from admin.services import domains, ownership


def domain_out(domain: Domain, check: ownership.Check | None = None) -> DomainOut:
    dns = ownership.records(domain, edge_cname_target())
    out = DomainOut(
        id=domain.id,
        hostname=domain.hostname,
        fallback_url=domain.fallback_url,
        verified=domain.verified_at is not None,
        status=domain.status,  # type: ignore[arg-type]
        verification=DnsRecord(**dns["verification"]),
        routing=DnsRecord(**dns["routing"]),
        verified_at=domain.verified_at,
        dns_checked_at=domain.dns_checked_at,
        created_at=domain.created_at,
    )
    if check is not None:
        out.check = DnsCheck(verified=check.verified, message=check.message, found=list(check.found))
    return out


@bp.post("/domains")
@doc("Add a branded domain (pending until DNS proves it)", DomainCreate, DomainOut, 201)
def create_domain() -> Response:
    body = read_json(DomainCreate)
    fallback = body.fallback_url if isinstance(body.fallback_url, str) else None
    domain = domains.create_domain(org_id(), body.hostname, fallback)
    return respond(domain_out(domain), 201)


@bp.get("/domains")
@doc("The organisation's domains", response=DomainList)
def list_domains() -> Response:
    return respond(DomainList(domains=[domain_out(d) for d in domains.list_domains(org_id())]))


@bp.get("/domains/<int:domain_id>")
@doc("One domain", response=DomainOut)
def get_domain(domain_id: int) -> Response:
    return respond(domain_out(domains.get_domain(org_id(), domain_id)))


@bp.post("/domains/<int:domain_id>/verify")
@doc("Check the domain's DNS now; verified when it proves the claim", response=DomainOut)
def verify_domain(domain_id: int) -> Response:
    domain, check = ownership.check_now(org_id(), domain_id, edge_cname_target(), dns_servers())
    return respond(domain_out(domain, check))


@bp.patch("/domains/<int:domain_id>")
@doc("Change a domain's fallback URL", DomainUpdate, DomainOut)
def update_domain(domain_id: int) -> Response:
    domains.get_domain(org_id(), domain_id)  # 404 before looking at the body
    changes = as_changes(read_json(DomainUpdate))
    return respond(domain_out(domains.update_domain(org_id(), domain_id, changes)))
