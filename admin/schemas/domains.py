"""API answers about domains: their ownership status and the DNS records to add."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import UNSET, Meta, Struct, UnsetType


class DnsRecord(Struct):
    type: Annotated[str, Meta(description="TXT or CNAME")]
    name: str
    value: Annotated[str, Meta(description="empty when the operator has not set it")]


class DnsCheck(Struct):
    verified: bool
    message: Annotated[str, Meta(description="what the check found and what it means")]
    found: list[str]


class DomainOut(Struct):
    id: int
    hostname: str
    fallback_url: str | None
    verified: bool
    status: Annotated[
        Literal["pending", "verified", "lost"],
        Meta(
            description="pending: serves nothing until DNS proves it; lost: verified, but the"
            " last check did not find the DNS records (still served)"
        ),
    ]
    verification: Annotated[DnsRecord, Meta(description="the TXT record that proves this claim")]
    routing: Annotated[DnsRecord, Meta(description="the CNAME that sends visitors to the edge")]
    verified_at: datetime | None
    dns_checked_at: datetime | None
    created_at: datetime
    check: DnsCheck | UnsetType = UNSET  # only in the answer of POST .../verify


class DomainList(Struct):
    domains: list[DomainOut]
