"""Bulk seed for load tests: an organisation, a domain, a link with merge fields and actions,
N contacts and one issued code per contact plus the link's generic code, with the outbox rows
that admin writes for the same changes (so `smartlinks sync` publishes them as usual).

Plain SQL through psycopg (COPY for the codes): admin's per-row services would take minutes
for 100,000 contacts, and the point here is to measure the edge, not the seeding.

    python -m loadtest.seed --contacts 100000   # into the running `smartlinks up`
    python -m loadtest.seed --export codes.txt --host go.example.org  # export an existing domain

With no DATABASE_URL it finds the `smartlinks up` running in SMARTLINKS_DATA_DIR (its runtime
file, core/runtime.py), as every `smartlinks` command does. After seeding it makes an API token
for the seeded organisation and writes what the Locust run needs (edge and admin URLs, host,
link, token, codes file) to loadtest/results/ (git-ignored): seed.json and codes.txt.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text

from core import config
from core.codes import new_code
from loadtest.traffic import Target, write_targets

RESULTS_DIR = Path(__file__).with_name("results")  # git-ignored
SEED_FILE = RESULTS_DIR / "seed.json"
CODES_FILE = RESULTS_DIR / "codes.txt"

BENCH_HOST = "bench.smartlinks.test"
DESTINATION = "https://example.org/rsvp?first={{first_name}}&last={{last_name}}&src={{fields.source|sms}}&ward={{fields.ward}}"
EXTENSION = "gala2026"
ACTIONS = [
    {"type": "whisper"},
    {"type": "add_tag", "tag": "bench-clicked"},
    {"type": "remove_from_list", "list": "Not yet clicked"},
]
CODES_PER_OUTBOX_ROW = 10_000  # the outbox convention for entity 'codes'


@dataclass(frozen=True)
class Seeded:
    org_id: int
    domain_id: int
    link_id: int
    hostname: str
    extension: str
    contacts: int


@dataclass(frozen=True)
class Issued:
    codes: int
    seconds: float
    method: str


def _outbox(cur: psycopg.Cursor, entity: str, entity_id: int, version: int) -> None:
    cur.execute(
        "INSERT INTO sync_outbox (entity, entity_id, version) VALUES (%s, %s, %s)",
        (entity, entity_id, version),
    )


def seed_link(conn: psycopg.Connection, contacts: int, hostname: str = "") -> Seeded:
    """The organisation, domain, link and contacts (with their outbox rows), in one transaction."""
    hostname = hostname or BENCH_HOST
    with conn.transaction(), conn.cursor() as cur:
        taken = cur.execute("SELECT 1 FROM domains WHERE hostname = %s", (hostname,)).fetchone()
        if taken:  # a database that was seeded before: a fresh host keeps runs apart
            hostname = f"bench-{secrets.token_hex(4)}.smartlinks.test"
        org_id = cur.execute(
            "INSERT INTO organisations (name) VALUES ('Load test') RETURNING id"
        ).fetchone()[0]  # type: ignore[index]
        domain_id, domain_version = cur.execute(
            "INSERT INTO domains (org_id, hostname, verified_at) VALUES (%s, %s, now()) "
            "RETURNING id, version",
            (org_id, hostname),
        ).fetchone()  # type: ignore[misc]
        _outbox(cur, "domain", domain_id, domain_version)
        link_id, link_version = cur.execute(
            "INSERT INTO links (org_id, domain_id, name, destination, extension, preview_title,"
            " preview_description, preview_image_url, actions)"
            " VALUES (%s, %s, 'Gala RSVP', %s, %s, 'Gala 2026', 'Join us on the 5th',"
            " 'https://example.org/gala.jpg', %s) RETURNING id, version",
            (org_id, domain_id, DESTINATION, EXTENSION, json.dumps(ACTIONS)),
        ).fetchone()  # type: ignore[misc]
        _outbox(cur, "link", link_id, link_version)
        cur.execute(
            "INSERT INTO contacts (org_id, phone, first_name, last_name, email, fields)"
            " SELECT %s, '+1555' || lpad(i::text, 7, '0'), 'First' || i, 'Last' || i,"
            " 'c' || i || '@example.org',"
            " jsonb_build_object('source', 'sms', 'ward', 'Ward ' || (i %% 40))"
            " FROM generate_series(1, %s) AS i",
            (org_id, contacts),
        )
        cur.execute(
            "INSERT INTO sync_outbox (entity, entity_id, version)"
            " SELECT 'contact', id, version FROM contacts WHERE org_id = %s ORDER BY id",
            (org_id,),
        )
    return Seeded(org_id, domain_id, link_id, hostname, EXTENSION, contacts)


def issue(database_url: str, seeded: Seeded) -> Issued:
    """Every contact's code and the generic code: through admin's own service
    (admin.services.codes) when it is there, else the same rows in bulk SQL."""
    try:
        issued = issue_with_admin(database_url, seeded)
    except Exception as exc:  # admin's service is the reference, but the bench must go on
        print(f"admin's issue_codes failed ({exc!r}): issuing with bulk SQL", file=sys.stderr)
        issued = None
    if issued is not None:
        return issued
    with psycopg.connect(config.to_libpq(database_url)) as conn:
        return issue_codes_sql(conn, seeded)


def issue_with_admin(database_url: str, seeded: Seeded) -> Issued | None:
    try:
        from admin import create_app
        from admin.extensions import db
        from admin.services.codes import issue_codes
        from admin.services.links import add_generic_code
    except ImportError:
        return None
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": config.to_sqlalchemy(database_url), "SECRET_KEY": "loadtest"}
    )
    with app.app_context():
        try:
            return _issue_in_app(db, add_generic_code, issue_codes, seeded)
        finally:
            db.session.remove()
            db.engine.dispose()


def _issue_in_app(db: Any, add_generic_code: Any, issue_codes: Any, seeded: Seeded) -> Issued:
    contact_ids = list(
        db.session.scalars(
            text("SELECT id FROM contacts WHERE org_id = :org ORDER BY id"),
            {"org": seeded.org_id},
        )
    )
    started = time.perf_counter()
    add_generic_code(seeded.org_id, seeded.link_id)
    db.session.commit()
    urls = issue_codes(seeded.org_id, seeded.link_id, contact_ids)
    seconds = time.perf_counter() - started
    return Issued(len(urls) + 1, seconds, "admin.services.codes.issue_codes")


def issue_codes_sql(conn: psycopg.Connection, seeded: Seeded) -> Issued:
    """One code per contact of the organisation plus the generic code, and their outbox rows,
    in one transaction: what admin's issue call does, in bulk."""
    started = time.perf_counter()
    with conn.transaction(), conn.cursor() as cur:
        contact_ids = [
            r[0]
            for r in cur.execute(
                "SELECT id FROM contacts WHERE org_id = %s ORDER BY id", (seeded.org_id,)
            )
        ]
        wanted: list[int | None] = [None, *contact_ids]
        issued: list[str] = []
        cur.execute(
            "CREATE TEMP TABLE bench_codes (code varchar(8), contact_id bigint) ON COMMIT DROP"
        )
        while wanted:
            # Random codes may (very rarely) meet an existing one: those contacts go round again.
            batch = {new_code(): contact_id for contact_id in wanted}
            cur.execute("TRUNCATE bench_codes")
            with cur.copy("COPY bench_codes (code, contact_id) FROM STDIN") as copy:
                for code, contact_id in batch.items():
                    copy.write_row((code, contact_id))
            done = cur.execute(
                "INSERT INTO issued_codes (code, org_id, link_id, contact_id)"
                " SELECT code, %s, %s, contact_id FROM bench_codes"
                " ON CONFLICT DO NOTHING RETURNING code, contact_id",
                (seeded.org_id, seeded.link_id),
            ).fetchall()
            issued.extend(code for code, _ in done)
            got = {contact_id for _, contact_id in done}
            wanted = [c for c in wanted if c not in got]
        for i in range(0, len(issued), CODES_PER_OUTBOX_ROW):
            cur.execute(
                "INSERT INTO sync_outbox (entity, entity_id, payload) VALUES ('codes', %s, %s)",
                (seeded.link_id, json.dumps({"codes": issued[i : i + CODES_PER_OUTBOX_ROW]})),
            )
        cur.execute("SELECT pg_notify('sync_outbox', 'codes')")
    return Issued(len(issued), time.perf_counter() - started, "bulk SQL")


def targets(conn: psycopg.Connection, hostname: str) -> list[Target]:
    """Every issued code of the domain's links, as short URLs are sent (with the extension)."""
    rows = conn.execute(
        "SELECT ic.code, l.extension FROM issued_codes ic"
        " JOIN links l ON l.id = ic.link_id JOIN domains d ON d.id = l.domain_id"
        " WHERE d.hostname = %s AND NOT l.archived ORDER BY ic.code",
        (hostname,),
    ).fetchall()
    return [Target(hostname, code, extension) for code, extension in rows]


def api_token(database_url: str, org_id: int, name: str) -> str:
    """A new API token for the organisation, made by admin's own service."""
    from admin import create_app
    from admin.extensions import db
    from admin.services.orgs import issue_api_token

    url = config.to_sqlalchemy(database_url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "loadtest"})
    with app.app_context():
        try:
            token = issue_api_token(org_id, None, name)
            db.session.commit()
            return token
        finally:
            db.session.remove()
            db.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.seed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--contacts", type=int, default=0, help="seed this many contacts")
    parser.add_argument("--host", default="", help=f"domain hostname (default {BENCH_HOST})")
    parser.add_argument(
        "--export", type=Path, help=f"write host/code/extension lines here (seeding: {CODES_FILE})"
    )
    parser.add_argument("--seed-file", type=Path, default=SEED_FILE, help="what Locust reads")
    args = parser.parse_args(argv)
    try:
        settings = config.load()
        url = config.libpq_url(settings)
    except config.SettingsError as exc:
        print(f"python -m loadtest.seed: {exc}", file=sys.stderr)
        return 2
    with psycopg.connect(url) as conn:
        host = args.host or BENCH_HOST
        if args.contacts:
            seeded = seed_link(conn, args.contacts, args.host)
            conn.commit()
            issued = issue(url, seeded)
            host = seeded.hostname
            print(
                f"seeded org {seeded.org_id}, domain {host}, link {seeded.link_id}: "
                f"{issued.codes} codes in {issued.seconds:.1f}s with {issued.method}"
                " (a running `smartlinks up` publishes them to Redis; else run"
                " `smartlinks sync --full --burst`)"
            )
            export = args.export or CODES_FILE
            save_seed(args.seed_file, settings, seeded, url, export)
        else:
            export = args.export
        if export:
            export.parent.mkdir(parents=True, exist_ok=True)
            n = write_targets(export, targets(conn, host))
            print(f"exported {n} codes of {host} to {export}")
    return 0


def save_seed(
    path: Path, settings: config.Settings, seeded: Seeded, database_url: str, codes: Path
) -> None:
    """The seed file Locust reads (loadtest/locustfile.py), and the API token, printed."""
    token = api_token(database_url, seeded.org_id, "loadtest")
    edge_host = "127.0.0.1" if settings.edge.host in ("0.0.0.0", "::", "") else settings.edge.host
    info = {
        "edge_url": f"http://{edge_host}:{settings.edge.port}",
        "admin_url": settings.admin.public_url,
        "host": seeded.hostname,
        "org_id": seeded.org_id,
        "link_id": seeded.link_id,
        "api_token": token,
        "codes_file": str(codes.resolve()),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=2) + "\n")
    path.chmod(0o600)  # the token is a credential for the organisation
    print(f"API token for org {seeded.org_id}: {token}")
    print(f"saved {path}: edge {info['edge_url']}, admin {info['admin_url']}, link {seeded.link_id}")


if __name__ == "__main__":
    sys.exit(main())
