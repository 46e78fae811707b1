"""Click actions: what a human click on a contact's link does to that contact.

Actions run inside the drain's batch transaction, only for clicks that the same transaction
has just inserted (``INSERT ... ON CONFLICT (click_id) DO NOTHING RETURNING``), so each runs
exactly once per click however often the stream delivers the event. The whisper is further
protected by the unique index on history_events (click_id, type).

The actions themselves (core.actions.Action) are parsed from a link's JSON by the recorder.
Every statement covers the whole batch (arrays through ``unnest``), so the cost per batch is a
handful of round trips whatever its size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from core.actions import ADD_TAG, ADD_TO_LIST, REMOVE_FROM_LIST, REMOVE_TAG, WHISPER, Action


@dataclass(frozen=True)
class ActionClick:
    """A newly recorded human click by a known contact."""

    click_id: str
    org_id: int
    link_id: int
    contact_id: int
    at: datetime
    link_name: str
    short_url: str
    actions: tuple[Action, ...]


@dataclass
class ActionCounts:
    whispers: int = 0
    tags_added: int = 0
    tags_removed: int = 0
    lists_added: int = 0
    lists_removed: int = 0


def whisper_text(link_name: str, short_url: str, at: datetime) -> str:
    # Formatted by hand: strftime was the drain's largest single Python cost per click.
    when = (
        f"{at.year:04d}-{at.month:02d}-{at.day:02d} "
        f"{at.hour:02d}:{at.minute:02d}:{at.second:02d} UTC"
    )
    return (
        f"Clicked {link_name}: {short_url} at {when}"
        if link_name
        else (f"Clicked {short_url} at {when}")
    )


def run(cur: psycopg.Cursor[Any], clicks: Sequence[ActionClick]) -> ActionCounts:
    counts = ActionCounts()
    if not clicks:
        return counts
    ordered = sorted(clicks, key=lambda c: (c.at, c.click_id))
    counts.whispers = _whispers(cur, [c for c in ordered if Action(WHISPER) in c.actions])
    tags, lists = _final_memberships(ordered)
    counts.tags_added, counts.tags_removed = _apply_memberships(cur, tags, _TAGS)
    counts.lists_added, counts.lists_removed = _apply_memberships(cur, lists, _LISTS)
    return counts


def _whispers(cur: psycopg.Cursor[Any], clicks: Sequence[ActionClick]) -> int:
    if not clicks:
        return 0
    cur.execute(
        """
        INSERT INTO history_events (org_id, contact_id, type, body, link_id, click_id, at)
        SELECT o, c, 'whisper', b, l, k, a
        FROM unnest(%b::bigint[], %b::bigint[], %b::text[], %b::bigint[], %b::text[],
                    %b::timestamptz[]) AS t(o, c, b, l, k, a)
        ON CONFLICT (click_id, type) WHERE click_id IS NOT NULL DO NOTHING
        """,
        (
            [c.org_id for c in clicks],
            [c.contact_id for c in clicks],
            [whisper_text(c.link_name, c.short_url, c.at) for c in clicks],
            [c.link_id for c in clicks],
            [c.click_id for c in clicks],
            [c.at for c in clicks],
        ),
    )
    return cur.rowcount


# (org_id, contact_id, name) -> True to add, False to remove
Memberships = dict[tuple[int, int, str], bool]


def _final_memberships(ordered: Iterable[ActionClick]) -> tuple[Memberships, Memberships]:
    """Tag and list changes reduced to the last word per (contact, name): applying them in bulk
    gives the same state as running every click's actions one after the other."""
    tags: Memberships = {}
    lists: Memberships = {}
    for click in ordered:
        for action in click.actions:
            key = (click.org_id, click.contact_id, action.name)
            if action.type == ADD_TAG:
                tags[key] = True
            elif action.type == REMOVE_TAG:
                tags[key] = False
            elif action.type == ADD_TO_LIST:
                lists[key] = True
            elif action.type == REMOVE_FROM_LIST:
                lists[key] = False
    return tags, lists


@dataclass(frozen=True)
class _Target:
    """The named table (tags, contact_lists) and its membership table."""

    named: str
    members: str
    member_column: str  # the membership table's column holding the named row's id


_TAGS = _Target("tags", "contact_tags", "tag_id")
_LISTS = _Target("contact_lists", "list_members", "list_id")


def _apply_memberships(
    cur: psycopg.Cursor[Any], changes: Memberships, target: _Target
) -> tuple[int, int]:
    if not changes:
        return 0, 0
    wanted = sorted({(org, name) for (org, _c, name), add in changes.items() if add})
    if wanted:
        # Named rows are created when missing; sorted so concurrent batches lock in one order.
        cur.execute(
            f"""
            INSERT INTO {target.named} (org_id, name)
            SELECT * FROM unnest(%b::bigint[], %b::text[])
            ON CONFLICT (org_id, name) DO NOTHING
            """,
            ([o for o, _ in wanted], [n for _, n in wanted]),
        )
    every = sorted({(org, name) for (org, _c, name) in changes})
    cur.execute(
        f"""
        SELECT n.id, n.org_id, n.name FROM {target.named} n
        JOIN unnest(%b::bigint[], %b::text[]) AS t(o, nm) ON n.org_id = t.o AND n.name = t.nm
        """,
        ([o for o, _ in every], [n for _, n in every]),
    )
    ids = {(org, name): row_id for row_id, org, name in cur.fetchall()}
    adds = sorted(
        (contact, ids[(org, name)])
        for (org, contact, name), add in changes.items()
        if add and (org, name) in ids
    )
    removes = sorted(
        (contact, ids[(org, name)])
        for (org, contact, name), add in changes.items()
        if not add and (org, name) in ids  # removing from a list that does not exist: nothing
    )
    added = removed = 0
    if adds:
        cur.execute(
            f"""
            INSERT INTO {target.members} (contact_id, {target.member_column})
            SELECT * FROM unnest(%b::bigint[], %b::bigint[])
            ON CONFLICT DO NOTHING
            """,
            ([c for c, _ in adds], [i for _, i in adds]),
        )
        added = cur.rowcount
    if removes:
        cur.execute(
            f"""
            DELETE FROM {target.members} m
            USING unnest(%b::bigint[], %b::bigint[]) AS t(c, i)
            WHERE m.contact_id = t.c AND m.{target.member_column} = t.i
            """,
            ([c for c, _ in removes], [i for _, i in removes]),
        )
        removed = cur.rowcount
    return added, removed
