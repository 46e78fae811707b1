"""The whole path on a real 3-master Valkey Cluster through real processes: `smartlinks sync`
publishes the records into 16 partitions, a `smartlinks edge` (granian) answers every edge
behaviour from the cluster, and a `smartlinks drain` records each click exactly once, without
replicas and with a replica per master (tests/helpers/cluster.py). The in-process tests of
test_cluster_edge.py count round trips and follow slots; this one proves the served product."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from flask import Flask

from admin.extensions import db
from admin.services.codes import issue_codes
from admin.services.orgs import NewOrg
from core import keys
from smartlinks.cluster import EmbeddedCluster
from tests.conftest import Servers
from tests.edge.conftest import GOOGLEBOT, IMESSAGE, IPHONE
from tests.servers import http_role, smartlinks_process
from tests.sync import factory
from tests.sync.clicks.helpers import scalar
from tests.sync.publish.helpers import sync_ready, wait_until

PARTITIONS = 16
HOST = "go.cluster.test"
NAMES = [f"Ann{n}" for n in range(12)]  # 12 contacts: ids over most of the 16 partitions


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["valkey_cluster", "valkey_cluster_replicas"])
def test_edge_and_drain_processes_on_a_cluster(
    kind: str, request: pytest.FixtureRequest, app: Flask, org: NewOrg, clean: Servers,
    tmp_path: Path,
) -> None:  # fmt: skip
    cluster: EmbeddedCluster = request.getfixturevalue(kind)
    cluster.flush()
    dom = factory.domain(org.org_id, HOST)
    lnk = factory.link(org.org_id, dom, "https://example.org/rsvp?first={{first_name}}",
                       name="Gala", actions=[{"type": "whisper"}])  # fmt: skip
    people = [factory.contact(org.org_id, f"+1555000{n:04d}", first_name=name)
              for n, name in enumerate(NAMES)]  # fmt: skip
    ids = [p.id for p in people]
    urls = issue_codes(org.org_id, lnk.id, ids[1:], partitions=PARTITIONS)
    codes = {cid: url.rsplit("/", 1)[-1] for cid, url in urls}
    # the first contact's code issued as before the layout (a random prefix): a second trip
    codes.update(factory.issue(org.org_id, lnk, [ids[0]]))
    generic = factory.issue(org.org_id, lnk, [None])[None]
    db.session.commit()
    assert len({keys.contact_partition(i, PARTITIONS) for i in ids}) == len(ids)
    assert keys.code_partition(codes[ids[1]], PARTITIONS) == keys.contact_partition(
        ids[1], PARTITIONS
    )

    # Two drain lanes (the default), each with its own cluster client: when they shared one,
    # both were seen stuck in a blocking XREADGROUP for the 30 s socket timeout in 3 of 14 runs.
    env = clean.env(REDIS_URL=cluster.url, REDIS_CLUSTER="1", REDIS_PARTITIONS=str(PARTITIONS),
                    DRAIN_LANES="2")  # fmt: skip
    client = cluster.client()
    with (
        smartlinks_process(["sync"], env, tmp_path) as sync_proc,
        smartlinks_process(["drain"], env, tmp_path) as drain_proc,
        http_role("edge", env, tmp_path, "EDGE_PORT") as (edge_proc, base),
        httpx.Client(base_url=base, headers={"Host": HOST}, timeout=5) as http,
    ):
        sync_ready(client, sync_proc)  # type: ignore[arg-type]

        def get(path: str, ua: str = IPHONE, host: str = HOST) -> httpx.Response:
            return http.get(path, headers={"User-Agent": ua, "Host": host})

        wait_until(lambda: all(http.head(f"/{c}", headers={"User-Agent": IPHONE}).status_code
                               == 302 for c in [*codes.values(), generic]),
                   20, "every code published to the cluster")  # fmt: skip

        # A person: the destination merged with the contact's own name, in every partition.
        for person in people:
            r = get(f"/{codes[person.id]}/gala")
            assert r.status_code == 302, edge_proc.log()
            assert r.headers["location"] == f"https://example.org/rsvp?first={quote(person.first_name)}"
        r = get(f"/{generic}")
        assert (r.status_code, r.headers["location"]) == (302, "https://example.org/rsvp?first=")
        # A link unfurler and a crawler: the preview page, no contact data, no human click.
        for ua in (IMESSAGE, GOOGLEBOT):
            r = get(f"/{codes[ids[2]]}", ua=ua)
            assert r.status_code == 200 and "og:title" in r.text and NAMES[2] not in r.text
        assert get("/Zz00000").status_code == 404
        assert get(f"/{codes[ids[2]]}", host="nowhere.example.test").status_code == 404
        humans = len(people) + 1

        # The drain: every click exactly once, its action run once.
        def recorded() -> int:
            return scalar("SELECT count(*) FROM clicks")  # type: ignore[no-any-return]

        wait_until(lambda: recorded() >= humans + 2, 20, "every click recorded")
        time.sleep(0.5)  # a duplicate (a redelivery) would land now
        assert recorded() == humans + 2, drain_proc.log()
    assert scalar("SELECT count(DISTINCT click_id) FROM clicks") == humans + 2
    assert scalar("SELECT count(*) FROM clicks WHERE kind = 'human'") == humans
    assert scalar("SELECT count(*) FROM clicks WHERE kind = 'preview'") == 1
    assert scalar("SELECT count(*) FROM clicks WHERE kind = 'bot'") == 1
    assert scalar("SELECT count(*) FROM history_events WHERE type = 'whisper'") == len(people)
    client.close()
