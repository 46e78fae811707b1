"""Redis memory per issued code, and how fast sync publishes codes (issue 3, item 7).

100,000 codes are inserted in bulk (as POST /links/{id}/issue does), sync publishes them, and
INFO memory's used_memory before and after gives the bytes per code. Codes live in hash
buckets (core.keys.code_bucket) small enough for the listpack encoding; see
docs/decisions/0003-code-scheme.md for the schemes measured.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis
from flask import Flask
from sqlalchemy import text

from admin.extensions import db
from admin.services.orgs import NewOrg
from admin.services.outbox import enqueue
from core import keys
from core.codes import new_code
from sync.publish.publisher import Publisher
from tests.sync import factory
from tests.sync.publish.helpers import code_in

N = 100_000
CHUNK = 10_000  # codes per outbox row, as the outbox convention says


def _used_memory(rdb: redis.Redis) -> int:
    info: dict[str, int] = rdb.info("memory")  # type: ignore[assignment]
    return int(info["used_memory"])


@pytest.mark.slow
def test_bytes_per_issued_code(
    app: Flask,
    org: NewOrg,
    rdb: redis.Redis,
    burst: Callable[..., Publisher],
) -> None:
    dom = factory.domain(org.org_id, "mem.example.test")
    lnk = factory.link(org.org_id, dom, "https://example.org/m?n={{first_name}}")
    contact_ids = (
        db.session.execute(
            text(
                "INSERT INTO contacts (org_id, phone, first_name)"
                " SELECT :org, '+1555' || lpad(g::text, 7, '0'), 'C' || g"
                " FROM generate_series(1, :n) g RETURNING id"
            ),
            {"org": org.org_id, "n": N},
        )
        .scalars()
        .all()
    )
    db.session.commit()
    # Pretend a full sync has run, so this burst publishes only the outbox (domain, link):
    # the contacts (inserted without outbox rows) stay out of the measurement.
    rdb.hset(keys.SYNC_STATE, "full_at", time.time())
    burst()
    before = _used_memory(rdb)

    codes: set[str] = set()
    while len(codes) < N:
        codes.add(new_code())
    code_list = sorted(codes)
    db.session.execute(
        text(
            "INSERT INTO issued_codes (code, org_id, link_id, contact_id)"
            " SELECT c, :org, :link, ct FROM unnest(CAST(:codes AS text[]), CAST(:contacts AS bigint[])) AS u(c, ct)"
        ),
        {"org": org.org_id, "link": lnk.id, "codes": code_list, "contacts": list(contact_ids)},
    )
    for i in range(0, N, CHUNK):
        enqueue("codes", lnk.id, 0, {"codes": code_list[i : i + CHUNK]})
    db.session.commit()

    started = time.perf_counter()
    burst()
    publish_seconds = time.perf_counter() - started
    after = _used_memory(rdb)
    per_code = (after - before) / N

    buckets = list(rdb.scan_iter(match=keys.code_bucket("*"), count=1000))
    sizes = [int(rdb.hlen(b)) for b in buckets]
    encodings = {rdb.object("encoding", b) for b in buckets[:50]}
    for code in code_list[:: N // 100]:
        assert code_in(rdb, code) is not None
    assert sum(sizes) == N

    # The full rebuild (after a FLUSHALL) streams the same codes from Postgres.
    rdb.flushall()
    empty = _used_memory(rdb)
    started = time.perf_counter()
    burst()
    rebuild_seconds = time.perf_counter() - started
    per_contact = (_used_memory(rdb) - empty - (after - before)) / N
    assert rdb.hget(keys.SYNC_STATE, "codes") == str(N).encode()

    print(
        f"\n{N} issued codes: {per_code:.1f} bytes per code in Redis"
        f" ({len(buckets)} buckets, {min(sizes)}-{max(sizes)} codes each, encoding {encodings});"
        f" sync published {N / publish_seconds:,.0f} codes/s ({publish_seconds:.2f} s);"
        f" full rebuild {N / rebuild_seconds:,.0f} codes/s incl. {N} contacts ({rebuild_seconds:.2f} s);"
        f" {per_contact:.0f} bytes per contact record ({rdb.object('encoding', keys.contact(contact_ids[0]))!r})"
    )
    assert encodings == {b"listpack"}
    assert per_code <= 100
