"""The provider interface: hand one message to a carrier gateway, or say why not."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    id: int
    org_id: int
    to: str  # E.164
    body: str
    claimed_at: datetime | None = None  # when the sender claimed it (for lookup)


@dataclass(frozen=True, slots=True)
class Submitted:
    """The provider took the message: its id (for delivery callbacks) and our new status."""

    provider_message_id: str
    status: str


class ProviderError(Exception):
    """A send that did not happen. ``retryable`` errors (rate limits, server errors, network
    failures) are tried again later; the others fail the message."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Provider(Protocol):
    name: str
    # Messages per second this provider accepts from us; None means no limit.
    rate_per_second: float | None

    def send(self, message: OutgoingMessage) -> Submitted: ...

    def lookup(self, message: OutgoingMessage) -> Submitted | None:
        """What the provider knows of a message whose send may have gone through before the
        sender died: its id and status, or None when the provider never got it. Raises
        ProviderError when it cannot tell now (the message then waits for the next try)."""
        ...


# Message statuses, in the order a message moves through them. A delivery callback never
# moves a message backwards (callbacks can arrive out of order).
STATUS_RANK = {
    "queued": 0,
    "sending": 1,
    "accepted": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "received": 4,
    "opted_out": 4,  # the contact opted out before the sender reached the message
    "canceled": 4,  # the broadcast was canceled before the message was sent
}
FINAL_STATUSES = frozenset(
    {"delivered", "undelivered", "failed", "received", "opted_out", "canceled"}
)
