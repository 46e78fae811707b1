"""core.clicks: the click kinds every role spells the same way."""

from __future__ import annotations

import pytest

from core import clicks
from core.records import ClickEvent


def test_the_three_kinds():
    assert clicks.CLICK_KINDS == ("human", "preview", "bot")
    assert (clicks.HUMAN, clicks.PREVIEW, clicks.BOT) == clicks.CLICK_KINDS
    assert clicks.PREVIEW_KINDS == ("preview", "bot")
    assert clicks.HUMAN not in clicks.PREVIEW_KINDS


def test_kinds_fit_the_column():
    assert all(len(k) <= clicks.KIND_MAX for k in clicks.CLICK_KINDS)


def test_sql_list():
    assert clicks.sql_list(clicks.CLICK_KINDS) == "('human','preview','bot')"
    assert clicks.sql_list((clicks.BOT,)) == "('bot')"
    for bad in ((), ("human", "x'); DROP TABLE clicks; --")):
        with pytest.raises(ValueError):
            clicks.sql_list(bad)


def test_a_click_event_carries_a_kind():
    event = ClickEvent(click_id="c", ts_ms=1, code="abc", host="h", kind=clicks.PREVIEW)
    assert event.kind in clicks.CLICK_KINDS
