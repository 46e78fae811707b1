"""The aggregates over raw clicks that the rollups replace: the oracle the rollup tests
(test_rollups.py, test_click_migration.py) compare sync/clicks/rollups.py with."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from admin.extensions import db

# The aggregates over raw clicks that the rollups replace: the oracle.
SERIES_FROM_CLICKS = """
    SELECT link_id, g.grain, date_trunc(g.grain, at, 'UTC') AS t,
           count(*) FILTER (WHERE kind = 'human'), count(*) FILTER (WHERE kind <> 'human'),
           count(*) FILTER (WHERE kind = 'bot')
    FROM clicks CROSS JOIN (VALUES ('minute'), ('hour'), ('day')) AS g(grain)
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""
BREAKDOWN_FROM_CLICKS = """
    SELECT link_id, d.dimension, d.name, count(*)
    FROM clicks CROSS JOIN LATERAL (VALUES ('device', device), ('os', os), ('browser', browser))
        AS d(dimension, name)
    WHERE kind = 'human' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""
BROADCASTS_FROM_CLICKS = """
    SELECT link_id, broadcast_id, count(*), count(DISTINCT contact_id) FROM clicks
    WHERE kind = 'human' AND broadcast_id IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2
"""


def rows(sql: str, **params: Any) -> list[tuple[Any, ...]]:
    db.session.rollback()  # a fresh snapshot: the drain committed in its own connection
    return [tuple(r) for r in db.session.execute(text(sql), params).all()]


def assert_rollups_match_clicks() -> None:
    assert rows(
        "SELECT link_id, grain, t, clicks, previews, bots FROM link_series ORDER BY 1, 2, 3"
    ) == rows(SERIES_FROM_CLICKS)
    assert rows(
        "SELECT link_id, dimension, name, clicks FROM link_breakdown ORDER BY 1, 2, 3"
    ) == rows(BREAKDOWN_FROM_CLICKS)
    assert rows(
        "SELECT link_id, broadcast_id, clicks, unique_clicks FROM link_broadcast_clicks"
        " ORDER BY 1, 2"
    ) == rows(BROADCASTS_FROM_CLICKS)
