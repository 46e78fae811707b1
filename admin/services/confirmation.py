"""The confirmation before a broadcast is sent: who gets it, who is left out (opted out,
unreachable), segments, a sample, the estimated cost per provider, and how many messages quiet
hours hold. Nothing is written."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from admin.services import compliance, quiet_hours
from admin.services.broadcasts_recipients import FIELDS, recipients, renderer
from admin.services.scheduling import schedule_from
from admin.services.sends import (
    audience_of,
    checked_body,
    sample_url,
    segment_summary,
    sendable_link,
)


def preview_broadcast(
    org_id: int, data: Mapping[str, Any], *, scheme: str, provider: str = "outbox"
) -> dict[str, Any]:
    """The confirmation before sending: recipients, the opted-out and unreachable ones left
    out, segments, a sample, the estimated cost per provider (``provider``: the one in use),
    and how many messages quiet hours would hold."""
    link = sendable_link(org_id, data.get("link_id"))
    body = checked_body(data.get("body"), link)
    send_at, quiet = schedule_from(data)
    found = recipients(org_id, audience_of(org_id, data), body.uses_fields or quiet)
    chosen = found.chosen
    url = sample_url(link, scheme) if link is not None else ""
    render = renderer(body)
    sample = render(chosen[0], url) if chosen else body.render({}, url)
    if body.uses_contact and chosen:
        summary = segment_summary(render(r, url) for r in chosen)
    else:
        # The same text for everyone (URLs have one length): count it once.
        summary = segment_summary([sample])
        summary["segments_total"] *= len(chosen)
    due = send_at or datetime.now(UTC)
    held = sum(1 for r in chosen if quiet_hours.hold_until(due, r[1], r[FIELDS])) if quiet else 0
    return {
        "recipients": len(chosen), "opted_out": found.opted_out,
        "unreachable": found.unreachable, "sample": sample, **summary,
        "cost": cost_estimate(summary["segments_total"], provider),
        "send_at": send_at, "quiet_hours": quiet, "held_by_quiet_hours": held,
        "warnings": compliance.lint(org_id, body.source, link, [r[0] for r in chosen]),
    }  # fmt: skip


# Price per segment of a US message, in USD, before carrier fees (which the carriers set and
# change): an estimate for the confirmation, never a bill.
PRICE_PER_SEGMENT = {"outbox": 0.0, "twilio": 0.0083}


def cost_estimate(segments_total: int, provider: str) -> dict[str, Any]:
    return {
        "currency": "USD",
        "provider": provider,
        "per_provider": {
            name: round(price * segments_total, 4) for name, price in PRICE_PER_SEGMENT.items()
        },
        "note": "before carrier fees",
    }
