"""A worker's memory of the answers Redis gave it recently, for when Redis cannot answer.

While Redis answers, every live link it resolves is remembered here (host, code -> domain and
link records, the contact's record as stored, the stream ref, when). While it does not
(edge/outage.py), a person's request for a remembered code is answered from here (302 as
usual, the click spooled: edge/spool.py) and anything else answers 503. The memory is never
read while Redis answers, so an edit or archive reaches the edge with Redis's first answer.

Two generations of plain dicts bound it: answers go into ``current``; when it holds half the
allowed entries it becomes ``previous`` (the one before is dropped). A code clicked in either
generation is remembered, so at most ``entries`` answers are kept and the cost on the hot path
is one dict store and a length check: no LRU bookkeeping. ``max_age`` bounds staleness: an
answer older than that (since Redis last gave it) is not used.
"""

from __future__ import annotations

from core.records import DomainRecord, LinkRecord
from edge.resolve import Outcome, Resolution, contact_for

# domain, link, contact as stored (or None), stream ref, time.monotonic() of Redis's answer,
# the code's source
Remembered = tuple[DomainRecord, LinkRecord, bytes | None, bytes, float, str]


class Memory:
    def __init__(self, entries: int, max_age: float) -> None:
        self.half = entries // 2
        self.max_age = max_age
        self.current: dict[tuple[str, str], Remembered] = {}
        self.previous: dict[tuple[str, str], Remembered] = {}

    def __len__(self) -> int:
        return len(self.current) + len(self.previous)

    def remember(self, host: str, code: str, res: Resolution, now: float) -> None:
        """Redis found this live link (``res.outcome`` is FOUND)."""
        if self.half <= 0:
            return
        current = self.current
        current[(host, code)] = (res.domain, res.link, res.contact_raw, res.ref, now, res.source)  # type: ignore[assignment]
        if len(current) >= self.half:
            self.previous = current
            self.current = {}

    def forget(self, host: str, code: str) -> None:
        """Redis said the code is unknown, archived or its host gone: never answer it from here."""
        key = (host, code)
        self.current.pop(key, None)
        self.previous.pop(key, None)

    def recall(self, host: str, code: str, now: float) -> Resolution | None:
        """The remembered answer, as if Redis had given it (not recorded), or None."""
        key = (host, code)
        hit = self.current.get(key) or self.previous.get(key)
        if hit is None or now - hit[4] > self.max_age:
            return None
        domain, link, contact_raw, ref, _at, source = hit
        return Resolution(
            Outcome.FOUND,
            domain,
            link,
            contact_for(link, contact_raw),
            contact_raw,
            ref,
            remembered=True,
            source=source,
        )
