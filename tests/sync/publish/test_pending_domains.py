"""Sync and pending domains: a full rebuild and the periodic reconcile leave a pending claim
out of Redis without calling it drift, and prune a hostname whose only rows are pending."""

from __future__ import annotations

from collections.abc import Callable

import redis
from flask import Flask

from admin.extensions import db
from admin.models import Domain
from admin.services.orgs import NewOrg
from admin.services.outbox import enqueue, next_version
from core import keys
from core.config import to_libpq as psycopg_url
from sync.publish import snapshots
from sync.publish.publisher import Publisher
from sync.publish.reconcile import Reconciler
from sync.publish.store import RecordStore
from tests.conftest import Servers
from tests.sync import factory


def test_pending_claims_are_not_drift_and_are_never_published(
    app: Flask,
    org: NewOrg,
    other_org: NewOrg,
    rdb: redis.Redis,
    burst: Callable[..., Publisher],
    clean: Servers,
) -> None:
    held = factory.domain(org.org_id, "go.held.test")  # verified (the factory's default)
    for org_id, host in ((other_org.org_id, "go.held.test"), (org.org_id, "go.pending.test")):
        row = Domain(org_id=org_id, hostname=host, version=next_version())  # pending
        db.session.add(row)
        db.session.flush()
        enqueue("domain", row.id, row.version)
    db.session.commit()
    burst(full=True)
    assert rdb.hget(keys.domain("go.held.test"), "id") == str(held.id).encode()
    assert not rdb.exists(keys.domain("go.pending.test"))
    reconciler = Reconciler(psycopg_url(clean.database_url), RecordStore(rdb))
    assert reconciler.reconcile() == []  # pending rows are not missing records

    # A stale key for a hostname that is now only pending is pruned as gone.
    RecordStore(rdb).put_domain(
        snapshots.domain_record((99, org.org_id, "go.pending.test", None, 1))
    )
    with reconciler._connect() as conn:
        assert reconciler.prune_kind(conn, "domains") == 1
    assert rdb.hget(keys.domain("go.pending.test"), keys.F_STATE) == b"x"
