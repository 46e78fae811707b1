"""The confirmation before a broadcast is sent: who gets it, who is left out (opted out,
unreachable), segments, a sample, the estimated cost per provider, and how many messages quiet
hours hold. Nothing is written."""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from admin.services import compliance, quiet_hours
from admin.services.broadcasts_recipients import (
    FIELDS,
    OPTED_OUT,
    UNREACHABLE,
    Row,
    each_recipient,
    renderer,
)
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
    and how many messages quiet hours would hold. One pass over the audience, a chunk of it
    in memory at a time."""
    link = sendable_link(org_id, data.get("link_id"))
    body = checked_body(data.get("body"), link)
    send_at, quiet = schedule_from(data)
    url = sample_url(link, scheme) if link is not None else ""
    render = renderer(body)
    tally = _Tally(send_at or datetime.now(UTC), quiet)
    rows = tally.chosen(
        each_recipient(org_id, audience_of(org_id, data), body.uses_fields or quiet)
    )
    if body.uses_contact:
        summary = segment_summary(render(r, url) for r in rows)
    else:
        # The same text for everyone (URLs have one length): count it once.
        for _ in rows:
            pass
        summary = segment_summary([body.render({}, url)])
        summary["segments_total"] *= tally.count
    sample = render(tally.first, url) if tally.first is not None else body.render({}, url)
    return {
        "recipients": tally.count, "opted_out": tally.opted_out,
        "unreachable": tally.unreachable, "sample": sample, **summary,
        "cost": cost_estimate(summary["segments_total"], provider),
        "send_at": send_at, "quiet_hours": quiet, "held_by_quiet_hours": tally.held,
        "warnings": compliance.lint(org_id, body.source, link, tally.ids),
    }  # fmt: skip


class _Tally:
    """What the confirmation counts as the audience streams past: the recipients (their ids
    as 8 bytes each, for the lint), the first one (the sample), those left out, and those
    quiet hours would hold."""

    def __init__(self, due: datetime, quiet: bool) -> None:
        self.due, self.quiet = due, quiet
        self.ids = array("q")
        self.first: Row | None = None
        self.opted_out = self.unreachable = self.held = 0

    @property
    def count(self) -> int:
        return len(self.ids)

    def chosen(self, rows: Iterable[Row]) -> Iterator[Row]:
        """The rows of those who will be sent to, counting every row on the way."""
        for row in rows:
            if row[OPTED_OUT]:
                self.opted_out += 1
            elif row[UNREACHABLE]:
                self.unreachable += 1
            else:
                self.ids.append(row[0])
                if self.first is None:
                    self.first = row
                if self.quiet and quiet_hours.hold_until(self.due, row[1], row[FIELDS]):
                    self.held += 1
                yield row


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
