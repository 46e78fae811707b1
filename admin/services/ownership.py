"""Domain ownership: a domain serves only once DNS proves its organisation controls it.

The rules (docs/decisions/0007-domain-ownership.md):

- A claim's own TXT token proves it, even when others claim the same hostname.
- A CNAME to the edge proves it only when this is the hostname's sole claim: the CNAME is the
  same for every claimant, so with two claims it would let whoever asks first take a hostname
  that its real owner pointed at the edge.
- A hostname another organisation holds verified is never verified for a second one. Nothing
  answered to the second one names or counts other organisations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from admin.extensions import db
from admin.models import Domain
from admin.services import audit, domains, outbox
from admin.services.errors import NotFound, ValidationError
from core import logs
from sync import domainproof

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    """The outcome of one DNS check, for a person: what was found and what it means."""

    verified: bool
    message: str
    found: tuple[str, ...] = ()


def records(domain: Domain, cname_target: str) -> dict[str, dict[str, str]]:
    """The DNS records a person adds: the TXT proof and the CNAME that routes traffic to
    ``cname_target`` (the EDGE_CNAME_TARGET setting)."""
    target = domainproof.edge_target(cname_target)
    return {
        "verification": {
            "type": "TXT",
            "name": domainproof.txt_name(domain.hostname),
            "value": domainproof.txt_value(domain.verification_token),
        },
        "routing": {"type": "CNAME", "name": domain.hostname, "value": target},
    }


def _holder(domain: Domain) -> int | None:
    """The id of another domain row holding this hostname verified (another organisation's)."""
    return db.session.scalar(
        select(Domain.id).where(
            Domain.hostname == domain.hostname,
            Domain.id != domain.id,
            Domain.verified_at.is_not(None),
        )
    )


def _claims(hostname: str) -> int:
    return int(db.session.scalar(select(func.count()).where(Domain.hostname == hostname)) or 0)


def _publish(domain: Domain) -> None:
    domain.version = outbox.next_version()
    outbox.enqueue("domain", domain.id, domain.version)


def mark_verified(domain: Domain, via: str) -> bool:
    """Verify and publish in the caller's transaction (committed here). False when another
    claim won meanwhile (the partial unique index on verified hostnames)."""
    now = datetime.now(UTC)
    domain.verified_at = now
    domain.verified_via = via
    domain.dns_checked_at = now
    domain.dns_lost_at = None
    _publish(domain)
    action = "domain.verify_override" if via == "operator" else "domain.verify"
    audit.record(domain.org_id, action, domain.hostname, after={"verified_via": via})
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    logs.event(log, "domain verified", domain_id=domain.id, org_id=domain.org_id, via=via)
    return True


def _found_text(found: tuple[str, ...]) -> str:
    return "; ".join(found) if found else "no record"


def check_now(
    org_id: int, domain_id: int, cname_target: str, resolver_setting: str
) -> tuple[Domain, Check]:
    """``POST /api/v1/domains/{id}/verify``: look DNS up now and act on what it shows.
    ``cname_target`` and ``resolver_setting`` are the EDGE_CNAME_TARGET and DNS_SERVERS
    settings."""
    domain = domains.get_domain(org_id, domain_id)
    target = domainproof.edge_target(cname_target)
    proof = domainproof.check(domain.hostname, domain.verification_token, target, resolver_setting)
    host, txt = domain.hostname, domainproof.txt_name(domain.hostname)
    if proof.error:
        return domain, Check(
            domain.verified_at is not None,
            f"DNS did not answer ({proof.error}); nothing changed. Try again in a minute.",
            proof.found,
        )
    if domain.verified_at is not None:  # a re-check of a verified domain: lost or back
        domain.dns_checked_at = datetime.now(UTC)
        if not (proof.txt or proof.cname or target):
            message = (
                f"{host} is verified; without the edge's name (EDGE_CNAME_TARGET) only the TXT"
                f" record could show it still points here, and it is gone ({_found_text(proof.found)})."
            )
        elif proof.txt or proof.cname:
            domain.dns_lost_at = None
            message = f"{host} is verified and its DNS still points here ({_found_text(proof.found)})."
        else:
            domain.dns_lost_at = domain.dns_lost_at or domain.dns_checked_at
            message = (
                f"{host} is verified, but DNS no longer shows the CNAME or the TXT record "
                f"({_found_text(proof.found)}). Links keep being served; put a record back."
            )
        db.session.commit()
        return domain, Check(True, message, proof.found)
    held = _holder(domain) is not None
    if proof.txt and not held and mark_verified(domain, "dns-txt"):
        return domain, Check(True, f"Verified: the TXT record {txt} carries this claim's token.")
    if proof.txt:
        # Only someone who controls the hostname's DNS reaches this answer.
        return domain, Check(
            False,
            f"The TXT record is in place, but {host} is already verified for another account."
            " If the hostname is yours, contact support to move it.",
            proof.found,
        )
    if proof.cname and not held and _claims(host) == 1 and mark_verified(domain, "dns-cname"):
        return domain, Check(True, f"Verified: {host} points at the edge.", proof.found)
    if proof.cname:
        return domain, Check(
            False,
            f"{host} points at the edge, but a CNAME alone proves nothing for a hostname that is"
            f" claimed more than once. Add the TXT record {txt} to prove this claim.",
            proof.found,
        )
    return domain, Check(
        False,
        f"Not verified yet: DNS shows {_found_text(proof.found)}. Add the CNAME (or the TXT"
        f" record {txt}), then check again; DNS changes can take a few minutes to show.",
        proof.found,
    )


def operator_verify(hostname_text: Any, org_id: int | None = None, actor: str = "operator") -> Domain:
    """``smartlinks domain verify HOSTNAME``: verified without DNS, and recorded."""
    host = domains.hostname(hostname_text)
    query = select(Domain).where(Domain.hostname == host).order_by(Domain.id)
    rows = list(db.session.scalars(query))
    held = [d for d in rows if d.verified_at is not None]
    claims = [d for d in rows if org_id is None or d.org_id == org_id]
    if not claims:
        raise NotFound("hostname", f"no organisation has claimed {host}")
    if held and (org_id is None or held[0].org_id == org_id):
        return held[0]  # already verified: nothing to do
    if held:
        raise ValidationError(
            "hostname", f"{host} is verified for organisation {held[0].org_id}; not changed"
        )
    if len(claims) > 1:
        orgs = ", ".join(str(d.org_id) for d in claims)
        raise ValidationError("org", f"{host} is claimed by organisations {orgs}: name one (--org)")
    domain = claims[0]
    with audit.acting(audit.Actor(actor)):
        verified = mark_verified(domain, "operator")
    if not verified:
        raise ValidationError("hostname", f"{host} was verified for another claim meanwhile")
    logs.event(log, "domain verified by the operator", logging.WARNING, hostname=host, actor=actor)
    return domain
