"""Click kinds: who the edge decided was asking, as it goes into the click stream, the
``clicks.kind`` column and the metrics.

Only a person's click (``human``) counts as a click and runs the link's actions; link-preview
fetchers (``preview``) and known crawlers (``bot``) are counted under previews, bots also on
their own (the contract).
"""

from __future__ import annotations

from typing import Final, Literal, get_args

ClickKind = Literal["human", "preview", "bot"]
HUMAN: Final = "human"
PREVIEW: Final = "preview"
BOT: Final = "bot"
CLICK_KINDS: tuple[ClickKind, ...] = get_args(ClickKind)
# The kinds counted under "previews", never under "clicks".
PREVIEW_KINDS: tuple[ClickKind, ...] = (PREVIEW, BOT)

KIND_MAX = 8  # clicks.kind is String(8)
REASON_MAX = 100  # clicks.reason is String(100): why the edge chose the kind, cropped to this


def sql_list(kinds: tuple[str, ...]) -> str:
    """Kinds as an SQL list literal, ``('preview','bot')``, for checks and fixed queries (the
    kinds are constants of this module, never user input)."""
    if not kinds or any(k not in CLICK_KINDS for k in kinds):
        raise ValueError(f"not click kinds: {kinds!r}")
    return "(" + ",".join(f"'{k}'" for k in kinds) + ")"
