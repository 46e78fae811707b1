"""Answers of the click metrics calls (counters, series, breakdown, the contacts behind a
metric)."""

from __future__ import annotations

from datetime import datetime

from msgspec import Struct


class MetricsOut(Struct):
    link_id: int
    clicks: int
    unique_clicks: int
    previews: int  # link-preview fetchers and known bots: never counted as clicks
    bots: int  # the known bots among previews
    updated_at: datetime | None


class PointOut(Struct):
    t: datetime
    clicks: int
    previews: int


class SeriesOut(Struct):
    link_id: int
    bucket: str
    points: list[PointOut]


class CountOut(Struct):
    name: str
    clicks: int


class BroadcastCountOut(Struct):
    broadcast_id: int
    clicks: int
    unique_clicks: int


class BreakdownOut(Struct):
    link_id: int
    device: list[CountOut]
    os: list[CountOut]
    browser: list[CountOut]
    broadcasts: list[BroadcastCountOut]


class MetricContactOut(Struct):
    id: int
    phone: str
    first_name: str
    last_name: str
    email: str
    clicks: int
    first_at: datetime
    last_at: datetime


class MetricContactsOut(Struct):
    metric: str
    contacts: list[MetricContactOut]
    next: str | None  # pass as ?cursor= for the next page; null on the last
