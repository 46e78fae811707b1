"""Library actions: saved replies holding a smart link, sent from a conversation or fired when
a contact texts the action's keyword (the whole message, case-insensitive)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from admin.extensions import db
from admin.models import LibraryAction
from admin.services import inputs, sends
from admin.services.errors import Conflict, ValidationError
from admin.services.lookup import owned

_KEYWORD = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
# Words carriers reserve for opting out and in, and for help: never a library keyword.
RESERVED_KEYWORDS = frozenset(
    {
        "stop",
        "stopall",
        "unsubscribe",
        "cancel",
        "end",
        "quit",
        "start",
        "unstop",
        "yes",
        "help",
        "info",
    }
)


def normalize_keyword(value: Any) -> str | None:
    """A keyword as stored (lowercase, trimmed), or None for no keyword."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ValidationError("keyword", "keyword must be a string")
    keyword = value.strip().lower()
    if not _KEYWORD.match(keyword):
        raise ValidationError(
            "keyword", "keyword must be one word of letters, digits, - or _ (at most 64)"
        )
    if keyword in RESERVED_KEYWORDS:
        raise ValidationError("keyword", f"{keyword.upper()} is reserved for opt-out and help")
    return keyword


def _name(value: Any) -> str:
    return inputs.required_text("name", value, 200)


def create_action(org_id: int, data: Mapping[str, Any]) -> LibraryAction:
    link = sends.sendable_link(org_id, data.get("link_id"))
    body = sends.checked_body(data.get("body"), link)
    action = LibraryAction(
        org_id=org_id,
        name=_name(data.get("name")),
        body=body.source,
        link_id=link.id if link is not None else None,
        keyword=normalize_keyword(data.get("keyword")),
    )
    db.session.add(action)
    _flush_keyword(action.keyword)
    db.session.commit()
    return action


def update_action(org_id: int, action_id: int, changes: Mapping[str, Any]) -> LibraryAction:
    action = get_action(org_id, action_id)
    if "name" in changes:
        action.name = _name(changes["name"])
    link_id = changes.get("link_id", action.link_id)
    link = sends.sendable_link(org_id, link_id)
    body = sends.checked_body(changes.get("body", action.body), link)
    action.body = body.source
    action.link_id = link.id if link is not None else None
    if "keyword" in changes:
        action.keyword = normalize_keyword(changes["keyword"])
    _flush_keyword(action.keyword)
    db.session.commit()
    return action


def _flush_keyword(keyword: str | None) -> None:
    try:
        db.session.flush()
    except IntegrityError:  # uq_library_actions_keyword: one action per keyword
        db.session.rollback()
        raise Conflict("keyword", f"another library action uses the keyword {keyword}") from None


def delete_action(org_id: int, action_id: int) -> None:
    db.session.delete(get_action(org_id, action_id))
    db.session.commit()


def get_action(org_id: int, action_id: Any) -> LibraryAction:
    if isinstance(action_id, str) and action_id.strip().isdecimal():
        action_id = int(action_id)
    if isinstance(action_id, bool) or not isinstance(action_id, int) or not 0 < action_id < 2**63:
        raise ValidationError("library_action_id", "library_action_id must be an id")
    return owned(LibraryAction, org_id, action_id, "library_action_id", "no such library action")


def list_actions(org_id: int) -> list[LibraryAction]:
    return list(
        db.session.scalars(
            select(LibraryAction)
            .where(LibraryAction.org_id == org_id)
            .order_by(func.lower(LibraryAction.name), LibraryAction.id)
        )
    )


def send_action(
    org_id: int,
    action_id: Any,
    contact_id: Any,
    *,
    user_id: int | None = None,
    commit: bool = True,
    scheme: str,
) -> int:
    """Send a library action to one contact, with that contact's own URL; the message id."""
    action = get_action(org_id, action_id)
    if action.link_id is None and "{{link}}" in action.body.replace(" ", ""):
        raise ValidationError("library_action_id", "the action's link was deleted; edit it")
    return sends.send_to_contact(
        org_id,
        contact_id,
        action.body,
        action.link_id,
        user_id=user_id,
        library_action_id=action.id,
        commit=commit,
        scheme=scheme,
    )


def action_for_keyword(org_id: int, text: str) -> LibraryAction | None:
    """The action whose keyword is the whole of ``text`` (case and outer spaces ignored)."""
    keyword = text.strip().lower()
    if not _KEYWORD.match(keyword):
        return None
    return db.session.scalar(
        select(LibraryAction).where(
            LibraryAction.org_id == org_id, LibraryAction.keyword == keyword
        )
    )
