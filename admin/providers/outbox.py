"""The default provider: nothing leaves the building. Messages are stored, shown in the
contact's history, and count as sent at once, so an organisation can try everything before it
connects a real gateway."""

from __future__ import annotations

from admin.providers.base import OutgoingMessage, Submitted


class OutboxProvider:
    name = "outbox"
    rate_per_second: float | None = None

    def send(self, message: OutgoingMessage) -> Submitted:
        return Submitted(provider_message_id=f"outbox-{message.id}", status="sent")

    def lookup(self, message: OutgoingMessage) -> Submitted | None:
        return None  # nothing left the building: sending it again is harmless
