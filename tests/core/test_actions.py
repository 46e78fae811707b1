"""core.actions: the one Action record, its JSON shape, and the drain's forgiving parse."""

from __future__ import annotations

import logging

import msgspec
import pytest

from core import actions
from core.actions import ACTION_TYPES, DEFAULT_ACTIONS, TARGETS, Action
from core.names import NAME_MAX

# Links' actions exactly as the admin has stored them in Postgres (and the contract shows).
STORED = [
    {"type": "whisper"},
    {"type": "add_tag", "tag": "gala-clicked"},
    {"type": "remove_tag", "tag": "cold"},
    {"type": "add_to_list", "list": "Clicked"},
    {"type": "remove_from_list", "list": "Not yet clicked"},
]


def test_the_five_types_and_what_each_names():
    assert ACTION_TYPES == ("whisper", "add_tag", "remove_tag", "add_to_list", "remove_from_list")
    assert TARGETS == {
        "add_tag": "tag",
        "remove_tag": "tag",
        "add_to_list": "list",
        "remove_from_list": "list",
    }
    assert [Action(t).target for t in ACTION_TYPES] == [None, "tag", "tag", "list", "list"]


def test_stored_json_round_trips_unchanged():
    parsed = actions.from_json(STORED)
    assert [a.name for a in parsed] == ["", "gala-clicked", "cold", "Clicked", "Not yet clicked"]
    assert actions.to_json(parsed) == STORED
    assert msgspec.json.decode(msgspec.json.encode(parsed), type=list[Action]) == parsed


def test_action_puts_the_name_in_the_field_the_type_needs():
    assert actions.action("add_tag", "t") == Action("add_tag", tag="t")
    assert actions.action("remove_from_list", "l") == Action("remove_from_list", list_="l")
    assert actions.action("whisper", "ignored") == Action("whisper")
    assert actions.to_json([actions.action("add_to_list", "VIP")]) == [
        {"type": "add_to_list", "list": "VIP"}
    ]


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ({"type": "explode"}, "- at `$.type`"),
        ({}, "missing required field `type`"),
        ({"type": "add_tag", "tag": 5}, "- at `$.tag`"),
        ({"type": "add_to_list", "list": None}, "- at `$.list`"),
    ],
)
def test_a_bad_action_is_refused_naming_the_field(raw, where):
    with pytest.raises(msgspec.ValidationError) as info:
        msgspec.convert(raw, Action)
    assert where in str(info.value)


def test_the_drain_parse_runs_the_stored_actions():
    assert actions.parse_stored(STORED) == tuple(actions.from_json(STORED))


def test_omitted_actions_mean_the_default_whisper():
    assert (Action("whisper"),) == DEFAULT_ACTIONS
    for raw in (None, {}, "whisper"):
        assert actions.parse_stored(raw) == DEFAULT_ACTIONS


def test_an_empty_list_means_no_actions():
    assert actions.parse_stored([]) == ()


def test_the_drain_parse_skips_what_it_cannot_run(caplog):
    raw = [
        {"type": "explode"},
        "add_tag",
        {"type": "add_tag"},
        {"type": "add_tag", "tag": "   "},
        {"type": "add_tag", "tag": 7},
        {"type": "add_to_list", "tag": "wrong field"},
        {"type": "whisper", "tag": "dropped"},
        {"type": "add_tag", "tag": "  Gala 2026 \t"},
        {"type": "add_to_list", "list": "x" * (NAME_MAX + 50)},
    ]
    with caplog.at_level(logging.WARNING, logger="core.actions"):
        parsed = actions.parse_stored(raw)
    assert parsed == (
        Action("whisper"),
        Action("add_tag", tag="Gala 2026"),
        Action("add_to_list", list_="x" * NAME_MAX),
    )
    # The three entries that are not actions at all are logged; empty names are skipped quietly.
    assert sum("unknown click action" in r.getMessage() for r in caplog.records) == 3
