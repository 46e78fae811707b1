"""Read-only queries of the pages (writes go through admin.services, with their outbox rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import String, cast, func, or_, select, text

from admin.extensions import db
from admin.models import (
    Click,
    Contact,
    ContactList,
    Domain,
    IssuedCode,
    Link,
    LinkContactClicks,
    LinkCounter,
    Tag,
    Upload,
)
from admin.services import uploads
from core.clicks import HUMAN

PAGE_SIZE = 50
FIELD_SAMPLE = 20_000  # contacts looked at to find the custom field names of an organisation


def custom_field_names(org_id: int) -> list[str]:
    """Names used in contacts' custom fields (from a bounded sample, newest contacts first)."""
    rows = db.session.execute(
        text(
            "SELECT DISTINCT k FROM (SELECT jsonb_object_keys(fields) AS k FROM "
            "(SELECT fields FROM contacts WHERE org_id = :org AND fields <> '{}'::jsonb "
            "ORDER BY id DESC LIMIT :sample) c) f ORDER BY k LIMIT 200"
        ),
        {"org": org_id, "sample": FIELD_SAMPLE},
    )
    return [r[0] for r in rows]


def tag_names(org_id: int) -> list[str]:
    return list(db.session.scalars(select(Tag.name).where(Tag.org_id == org_id).order_by(Tag.name)))


def list_names(org_id: int) -> list[str]:
    return list(
        db.session.scalars(
            select(ContactList.name).where(ContactList.org_id == org_id).order_by(ContactList.name)
        )
    )


def domains(org_id: int) -> list[Domain]:
    return list(
        db.session.scalars(select(Domain).where(Domain.org_id == org_id).order_by(Domain.hostname))
    )


@dataclass(frozen=True)
class LinkRow:
    link: Link
    clicks: int
    unique_clicks: int
    previews: int


# The list's sort orders: name -> ORDER BY (the id breaks ties, so pages never overlap).
LINK_SORTS = {
    "newest": (Link.id.desc(),),
    "oldest": (Link.id.asc(),),
    "name": (func.lower(Link.name).asc(), Link.id.desc()),
    "clicks": (func.coalesce(LinkCounter.clicks, 0).desc(), Link.id.desc()),
    "unique": (func.coalesce(LinkCounter.unique_clicks, 0).desc(), Link.id.desc()),
    "expiry": (Link.expires_at.asc().nulls_last(), Link.id.desc()),
}


def search_links(
    org_id: int,
    q: str,
    domain_id: int | None,
    show: str,
    page: int,
    sort: str = "newest",
    folder: str | None = None,
) -> tuple[list[LinkRow], bool]:
    """One page of links in the ``sort`` order (newest first unless told); and whether there
    is a next page. ``folder`` None is every folder, "" the links in none."""
    query = (
        select(Link, LinkCounter.clicks, LinkCounter.unique_clicks, LinkCounter.previews)
        .outerjoin(LinkCounter, LinkCounter.link_id == Link.id)
        .where(Link.org_id == org_id)
    )
    if show == "archived":
        query = query.where(Link.archived.is_(True))
    elif show != "all":
        query = query.where(Link.archived.is_(False))
    if domain_id:
        query = query.where(Link.domain_id == domain_id)
    if folder is not None:
        query = query.where(Link.folder == folder)
    q = q.strip()
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.join(Domain, Domain.id == Link.domain_id).where(
            or_(
                Link.name.ilike(like),
                Link.destination.ilike(like),
                Link.extension.ilike(like),
                Domain.hostname.ilike(like),
                cast(Link.id, String) == q,
            )
        )
    rows = db.session.execute(
        query.order_by(*LINK_SORTS.get(sort, LINK_SORTS["newest"]))
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    ).all()
    found = [LinkRow(r[0], r[1] or 0, r[2] or 0, r[3] or 0) for r in rows[:PAGE_SIZE]]
    return found, len(rows) > PAGE_SIZE


def counters(org_id: int, link_ids: list[int]) -> dict[int, dict[str, int]]:
    rows = db.session.execute(
        select(
            LinkCounter.link_id, LinkCounter.clicks, LinkCounter.unique_clicks, LinkCounter.previews
        ).where(LinkCounter.org_id == org_id, LinkCounter.link_id.in_(link_ids))
    )
    found = {i: {"clicks": 0, "unique_clicks": 0, "previews": 0} for i in link_ids}
    for link_id, clicks, unique, previews in rows:
        found[link_id] = {"clicks": clicks, "unique_clicks": unique, "previews": previews}
    return found


def upload_for_url(org_id: int, url: str) -> Upload | None:
    """The upload behind one of our own media URLs (for its dimensions)."""
    marker = "/media/"
    if marker not in url:
        return None
    name = url.rsplit(marker, 1)[1]
    public_id, _, ext = name.partition(".")
    upload = uploads.find_public(public_id, ext)
    return upload if upload is not None and upload.org_id == org_id else None


def link_count(org_id: int) -> int:
    return int(
        db.session.scalar(select(func.count()).select_from(Link).where(Link.org_id == org_id)) or 0
    )


def sendable_links(org_id: int) -> list[Link]:
    """The links a message may hold (not archived), newest first: the composers' pickers."""
    return list(
        db.session.scalars(
            select(Link)
            .where(Link.org_id == org_id, Link.archived.is_(False))
            .order_by(Link.id.desc())
        )
    )


def link(org_id: int, link_id: int) -> Link | None:
    return db.session.scalar(select(Link).where(Link.id == link_id, Link.org_id == org_id))


def recent_contacts(org_id: int, limit: int) -> list[Contact]:
    return list(
        db.session.scalars(
            select(Contact).where(Contact.org_id == org_id).order_by(Contact.id.desc()).limit(limit)
        )
    )


def contacts_by_id(org_id: int, contact_ids: list[int]) -> dict[int, Contact]:
    rows = db.session.scalars(
        select(Contact).where(Contact.org_id == org_id, Contact.id.in_(contact_ids))
    )
    return {c.id: c for c in rows}


def link_folders(org_id: int) -> list[str]:
    return list(
        db.session.scalars(
            select(Link.folder)
            .where(Link.org_id == org_id, Link.folder != "")
            .distinct()
            .order_by(Link.folder)
        )
    )


def personal_url_counts(org_id: int, link_ids: list[int]) -> dict[int, int]:
    """How many contacts have their own short URL for each link (the generic code aside; a
    contact with codes for several broadcasts' sources counts once)."""
    rows = db.session.execute(
        select(IssuedCode.link_id, func.count(func.distinct(IssuedCode.contact_id)))
        .where(
            IssuedCode.org_id == org_id,
            IssuedCode.link_id.in_(link_ids),
            IssuedCode.contact_id.is_not(None),
        )
        .group_by(IssuedCode.link_id)
    )
    return {link_id: int(n) for link_id, n in rows}


def people_clicked(org_id: int, link_ids: list[int]) -> dict[int, int]:
    """How many contacts clicked their own URL of each link (the click rate's numerator;
    anonymous visitors of the shared URL are not people we know)."""
    rows = db.session.execute(
        select(LinkContactClicks.link_id, func.count())
        .where(LinkContactClicks.org_id == org_id, LinkContactClicks.link_id.in_(link_ids))
        .group_by(LinkContactClicks.link_id)
    )
    return {link_id: int(n) for link_id, n in rows}


def daily_clicks(org_id: int, link_ids: list[int], days: int, tz: str) -> dict[int, list[int]]:
    """People's clicks per day over the last ``days`` days (today last), in time zone ``tz``,
    for each link: the list's sparklines."""
    found = {i: [0] * days for i in link_ids}
    if not link_ids:
        return found
    rows = db.session.execute(
        text(
            "SELECT link_id, (now() AT TIME ZONE :tz)::date - (at AT TIME ZONE :tz)::date AS ago,"
            " count(*) FROM clicks WHERE org_id = :org AND link_id = ANY(:ids)"
            " AND kind = :human AND at >= now() - make_interval(days => :days + 1)"
            " GROUP BY 1, 2"
        ),
        {"org": org_id, "ids": link_ids, "human": HUMAN, "days": days, "tz": tz},
    )
    for link_id, ago, n in rows:
        if 0 <= ago < days:
            found[link_id][days - 1 - ago] = int(n)
    return found


def clicks_by_day(
    org_id: int, start: datetime, end: datetime, tz: str, link_id: int | None
) -> dict[date, dict[str, int]]:
    """Recorded hits per day (in zone ``tz``) and kind: people, preview cards, bots."""
    rows = db.session.execute(
        text(
            "SELECT (at AT TIME ZONE :tz)::date, kind, count(*) FROM clicks"
            " WHERE org_id = :org AND at >= :start AND at < :end"
            " AND (CAST(:link AS bigint) IS NULL OR link_id = :link) GROUP BY 1, 2"
        ),
        {"org": org_id, "tz": tz, "start": start, "end": end, "link": link_id},
    )
    found: dict[date, dict[str, int]] = {}
    for day, kind, n in rows:
        found.setdefault(day, {"human": 0, "preview": 0, "bot": 0})[kind] = int(n)
    return found


def people_in_range(org_id: int, start: datetime, end: datetime, link_id: int | None) -> int:
    """Distinct contacts who clicked their own URL in the range."""
    return int(
        db.session.execute(
            text(
                "SELECT count(DISTINCT contact_id) FROM clicks WHERE org_id = :org"
                " AND kind = :human AND at >= :start AND at < :end AND contact_id IS NOT NULL"
                " AND (CAST(:link AS bigint) IS NULL OR link_id = :link)"
            ),
            {"org": org_id, "human": HUMAN, "start": start, "end": end, "link": link_id},
        ).scalar_one()
    )


def anonymous_clicks(org_id: int, start: datetime, end: datetime, link_id: int | None) -> int:
    """People's clicks on shared URLs (no contact): counted, but nobody we know."""
    return int(
        db.session.execute(
            text(
                "SELECT count(*) FROM clicks WHERE org_id = :org AND kind = :human"
                " AND at >= :start AND at < :end AND contact_id IS NULL"
                " AND (CAST(:link AS bigint) IS NULL OR link_id = :link)"
            ),
            {"org": org_id, "human": HUMAN, "start": start, "end": end, "link": link_id},
        ).scalar_one()
    )


def top_links(org_id: int, start: datetime, end: datetime, limit: int) -> list[tuple[Link, int]]:
    rows = db.session.execute(
        select(Link, func.count())
        .join(Click, Click.link_id == Link.id)
        .where(
            Link.org_id == org_id,
            Click.org_id == org_id,
            Click.kind == HUMAN,
            Click.at >= start,
            Click.at < end,
        )
        .group_by(Link.id)
        .order_by(func.count().desc(), Link.id.desc())
        .limit(limit)
    ).all()
    return [(r[0], int(r[1])) for r in rows]


def top_referrers(
    org_id: int, start: datetime, end: datetime, link_id: int | None, limit: int
) -> list[tuple[str, int]]:
    """People's clicks by the referring site's host ("" when none was sent, as from a text)."""
    rows = db.session.execute(
        text(
            "SELECT split_part(split_part(referer, '://', 2), '/', 1) AS host, count(*)"
            " FROM clicks WHERE org_id = :org AND kind = :human AND at >= :start AND at < :end"
            " AND (CAST(:link AS bigint) IS NULL OR link_id = :link)"
            " GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT :limit"
        ),
        {"org": org_id, "human": HUMAN, "start": start, "end": end, "link": link_id,
         "limit": limit},
    )  # fmt: skip
    return [(host or "", int(n)) for host, n in rows]
