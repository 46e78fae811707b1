"""The audit log: who changed what and when, with the values before and after.

Services call ``record`` in the transaction of the change itself (as they write outbox rows),
so an event exists exactly when its change was committed. Who acted comes from ``act_as``,
which the authentication of each request calls (a person signed in, an API token); work
started elsewhere (the command line, a worker) names itself or is recorded as "system".
A secret's value never enters the log: its entry says "changed".

Owners read the log (``page``): newest first, by a cursor (the last id seen), filtered by kind
(the part of the action before the dot: "link", "domain", "team", "token", ...).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select

from admin.extensions import db
from admin.models import AuditEvent
from admin.services.errors import ValidationError

SECRET_CHANGED = "changed"  # noqa: S105 (what a changed secret shows, not one)
KINDS = ("contact", "domain", "export", "link", "provider", "settings", "team", "token", "webhook")
MAX_PAGE = 200
ACTOR_LENGTH = 200  # the column's size


@dataclass(frozen=True)
class Actor:
    """Who is acting: a person (``user_id``) or a named program, and how (``via``)."""

    label: str
    user_id: int | None = None
    via: str = ""

    @property
    def text(self) -> str:
        return (f"{self.label} ({self.via})" if self.via else self.label)[:ACTOR_LENGTH]


SYSTEM = Actor("system")
_actor: ContextVar[Actor | None] = ContextVar("audit_actor", default=None)


def act_as(actor: Actor | None) -> Token[Actor | None]:
    """Name who acts for the rest of this request (or until ``reset``)."""
    return _actor.set(actor)


def reset(token: Token[Actor | None] | None = None) -> None:
    """Forget the actor: at the end of every request, so a reused thread starts anonymous."""
    if token is not None:
        _actor.reset(token)
    else:
        _actor.set(None)


@contextmanager
def acting(actor: Actor) -> Iterator[None]:
    token = act_as(actor)
    try:
        yield
    finally:
        reset(token)


def current_actor() -> Actor:
    return _actor.get() or SYSTEM


def jsonable(value: Any) -> Any:
    """A column value as JSON can hold it (times as ISO 8601 text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).isoformat()  # one spelling per instant: no false change
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


def snapshot(row: Any, names: Collection[str]) -> dict[str, Any]:
    """The named attributes of a row, JSON-ready: a ``before`` or an ``after``."""
    return {name: jsonable(getattr(row, name)) for name in names}


def changes(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    secrets: Collection[str] = (),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only what differs, each side; a secret that differs is "changed" after, absent before.
    Without a ``before`` (a creation), blank values are left out."""
    old, new = dict(before or {}), dict(after or {})
    was: dict[str, Any] = {}
    now: dict[str, Any] = {}
    for name in sorted(set(old) | set(new), key=str):
        a, b = jsonable(old.get(name)), jsonable(new.get(name))
        if a == b or (before is None and _blank(b)):  # a new thing's blank fields say nothing
            continue
        if name in secrets:
            now[name] = SECRET_CHANGED
            continue
        if name in old:
            was[name] = a
        if name in new:
            now[name] = b
    return was, now


def _blank(value: Any) -> bool:
    return value is None or value is False or (isinstance(value, str | list | dict) and not value)


def record(
    org_id: int | None,
    action: str,
    subject: str,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    secrets: Collection[str] = (),
    detail: Mapping[str, Any] | None = None,
    actor: Actor | None = None,
) -> AuditEvent | None:
    """Add an event in the caller's transaction (the caller commits it with the change).
    An update whose before and after agree changed nothing: no event (None)."""
    was, now = changes(before, after, secrets)
    if before is not None and after is not None and not was and not now:
        return None
    who = actor or current_actor()
    event = AuditEvent(
        org_id=org_id,
        kind=action.partition(".")[0],
        action=action,
        actor=who.text,
        actor_user_id=who.user_id,
        subject=subject[:500],
        before=was if before is not None else None,
        after=now if after is not None else None,
        detail=jsonable(dict(detail or {})),
    )
    db.session.add(event)
    return event


def page(
    org_id: int, *, kind: str | None = None, before_id: int = 0, limit: int = 50
) -> tuple[list[AuditEvent], int | None]:
    """One page of the organisation's events, newest first: those with an id below
    ``before_id`` (0: from the newest). Returns the rows and the cursor of the next page."""
    if kind and kind not in KINDS:
        raise ValidationError("kind", f"kind must be one of {', '.join(KINDS)}")
    query = select(AuditEvent).where(AuditEvent.org_id == org_id)
    if kind:
        query = query.where(AuditEvent.kind == kind)
    if before_id:
        query = query.where(AuditEvent.id < before_id)
    rows = list(db.session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more else None)
