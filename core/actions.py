"""Click actions: what a person's click on a contact's link does to that contact.

One record for the whole project. The admin decodes API bodies with it and builds it from the
web form, stores it in ``links.actions`` as JSON (``{"type": "add_tag", "tag": "gala"}``),
answers it in the API and documents it in the OpenAPI document; the drain parses the stored
JSON back into it. The JSON shape is the contract's: never rename a field or a type.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Annotated, Any, Final, Literal, get_args

import msgspec
from msgspec import UNSET, Meta, UnsetType, field

from core.names import NAME_MAX, normalize_name

log = logging.getLogger(__name__)

ActionType = Literal["whisper", "add_tag", "remove_tag", "add_to_list", "remove_from_list"]
WHISPER: Final = "whisper"  # a note in the contact's history
ADD_TAG: Final = "add_tag"
REMOVE_TAG: Final = "remove_tag"
ADD_TO_LIST: Final = "add_to_list"
REMOVE_FROM_LIST: Final = "remove_from_list"
ACTION_TYPES: tuple[ActionType, ...] = get_args(ActionType)

Target = Literal["tag", "list"]
# The JSON field that names what each type changes; a whisper names nothing.
TARGETS: dict[str, Target] = {
    ADD_TAG: "tag",
    REMOVE_TAG: "tag",
    ADD_TO_LIST: "list",
    REMOVE_FROM_LIST: "list",
}


class Action(msgspec.Struct, frozen=True, omit_defaults=True):
    """What a person's click does to the contact: whisper (a note in the contact's history),
    add or remove a tag, add to or remove from a list. A missing tag or list is created."""

    # The docstring above is the OpenAPI description. ``tag`` or ``list`` is set for the types
    # that need it (TARGETS); a field left unset is absent from the JSON.

    type: ActionType
    tag: Annotated[str | UnsetType, Meta(description="for add_tag and remove_tag")] = UNSET
    list_: Annotated[str | UnsetType, Meta(description="for add_to_list and remove_from_list")] = (
        field(name="list", default=UNSET)
    )

    @property
    def target(self) -> Target | None:
        return TARGETS.get(self.type)

    @property
    def name(self) -> str:
        """The tag or list name; "" for a whisper."""
        value = self.tag if self.target == "tag" else self.list_ if self.target == "list" else ""
        return value if isinstance(value, str) else ""


# The contract's default when a link's ``actions`` is omitted.
DEFAULT_ACTIONS: tuple[Action, ...] = (Action(WHISPER),)


def action(kind: ActionType, name: str = "") -> Action:
    """An Action of ``kind`` with ``name`` in the field the type needs (ignored for a whisper)."""
    target = TARGETS.get(kind)
    if target == "tag":
        return Action(kind, tag=name)
    if target == "list":
        return Action(kind, list_=name)
    return Action(kind)


def to_json(actions: Iterable[Action]) -> list[dict[str, Any]]:
    """Actions as the JSON value stored in ``links.actions``."""
    result: list[dict[str, Any]] = msgspec.to_builtins(list(actions))
    return result


def from_json(raw: Any) -> list[Action]:
    """Actions stored by the admin (already valid); raises msgspec.ValidationError otherwise."""
    return msgspec.convert(raw, list[Action])


def parse_stored(raw: Any) -> tuple[Action, ...]:
    """A link's stored ``actions`` as the drain runs them; never raises, so that a bad entry
    never fails a click: it is skipped (and logged). Names are normalised and cut to NAME_MAX;
    an action without a name is skipped.

    ``[]`` means no actions (the contract: an organiser who removed them all wants none); only
    a value that is no list at all (``None``: never stored) means the default whisper."""
    if not isinstance(raw, list):
        return DEFAULT_ACTIONS
    actions: list[Action] = []
    for item in raw:
        try:
            one = msgspec.convert(item, Action)
        except msgspec.ValidationError:
            log.warning("skipping an unknown click action", extra={"fields": {"action": item}})
            continue
        if one.target is None:
            actions.append(Action(one.type))  # a whisper carries nothing else
            continue
        name = normalize_name(one.name)[:NAME_MAX]
        if name:
            actions.append(action(one.type, name))
    return tuple(actions)
