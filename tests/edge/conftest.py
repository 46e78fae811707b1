"""Edge fixtures: one real `smartlinks edge` (granian) process per test module, records written
to the real Redis with sync's RecordStore exactly as sync writes them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import msgspec
import pytest
import redis

from core import keys, records
from core.records import ClickAmendment, ClickEvent, ContactRecord, DomainRecord, LinkRecord
from sync.publish.store import RecordStore
from tests.conftest import Servers
from tests.servers import Process, http_role

R = TypeVar("R", LinkRecord, ContactRecord, DomainRecord)

HOST = "go.example.test"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
IMESSAGE = "facebookexternalhit/1.1 Facebot Twitterbot/1.0"
GOOGLEBOT = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/120.0.6099.71 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
    "+http://www.google.com/bot.html)"
)


@dataclass
class Edge:
    proc: Process
    base: str
    client: httpx.Client

    def get(self, path: str, host: str = HOST, ua: str = IPHONE, **headers: str) -> httpx.Response:
        return self.client.get(
            self.base + path, headers={"Host": host, "User-Agent": ua, **headers}
        )

    def head(self, path: str, host: str = HOST, ua: str = IPHONE, **headers: str) -> httpx.Response:
        return self.client.head(
            self.base + path, headers={"Host": host, "User-Agent": ua, **headers}
        )


def start_edge(
    servers: Servers, tmp_path_factory: pytest.TempPathFactory, **env: str
) -> Iterator[Edge]:
    log_dir = tmp_path_factory.mktemp("edge")
    with (
        http_role("edge", servers.env(**env), log_dir, "EDGE_PORT") as (proc, base),
        httpx.Client(follow_redirects=False, timeout=5) as client,
    ):
        yield Edge(proc, base, client)


@pytest.fixture(scope="module")
def edge(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    yield from start_edge(servers, tmp_path_factory, TRUSTED_PROXIES="127.0.0.1/32, ::1")


@dataclass
class World:
    """A domain with a link, a contact and two codes (the contact's and the generic one)."""

    store: RecordStore
    rdb: redis.Redis
    domain: DomainRecord
    link: LinkRecord
    contact: ContactRecord
    code: str = "Ab3dEf7"  # the contact's code
    generic: str = "Gen0001"

    def entries(self) -> list[dict[bytes, bytes]]:
        raw: Any = self.rdb.xrange(keys.CLICK_STREAM)
        return [fields for _id, fields in raw]

    def clicks(self) -> list[tuple[ClickEvent, str]]:
        """Click entries of the stream: (event, ref)."""
        out = []
        for fields in self.entries():
            if records.STREAM_EVENT.encode() in fields:
                out.append(
                    (
                        records.click_decoder.decode(fields[records.STREAM_EVENT.encode()]),
                        fields[records.STREAM_REF.encode()].decode(),
                    )
                )
        return out

    def amendments(self) -> list[ClickAmendment]:
        return [
            records.amendment_decoder.decode(fields[records.STREAM_AMEND.encode()])
            for fields in self.entries()
            if records.STREAM_AMEND.encode() in fields
        ]

    def put_link(self, **changes: Any) -> LinkRecord:
        self.link = _next_version(self.link, changes)
        self.store.put_link(self.link)
        return self.link

    def put_contact(self, **changes: Any) -> ContactRecord:
        self.contact = _next_version(self.contact, changes)
        self.store.put_contact(self.contact)
        return self.contact

    def put_domain(self, **changes: Any) -> DomainRecord:
        self.domain = _next_version(self.domain, changes)
        self.store.put_domain(self.domain)
        return self.domain


def _next_version(record: R, changes: dict[str, Any]) -> R:
    """``record`` with ``changes``, one version newer (as sync publishes an edit)."""
    return msgspec.structs.replace(record, **changes, version=record.version + 1)


@pytest.fixture
def rdb(servers: Servers) -> Iterator[redis.Redis]:
    """Redis emptied before the test (the edge reads nothing else, so Postgres is left alone:
    faster than the suite's `clean`)."""
    client = redis.Redis.from_url(servers.redis_url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def world(rdb: redis.Redis) -> World:
    return make_world(RecordStore(rdb))


def make_world(store: RecordStore) -> World:
    """The world's records written through ``store`` (a single Redis or a cluster)."""
    domain = DomainRecord(id=1, org_id=7, hostname=HOST, version=1)
    link = LinkRecord(
        id=10,
        org_id=7,
        domain_id=1,
        hostname=HOST,
        version=2,
        destination="https://example.org/rsvp/{{fields.team|all}}?first={{first_name}}&src={{fields.source|sms}}#{{last_name}}",
        name="Gala RSVP (internal)",
        extension="gala2021",
        preview_title="Gala 2021",
        preview_description="Join us",
        preview_image_url="https://img.example.org/gala.jpg",
    )
    contact = ContactRecord(
        id=100,
        org_id=7,
        version=3,
        phone="+15551234567",
        first_name="Zoë Secretname",
        last_name="Privé",
        email="zoe@example.net",
        fields={"source": "mail/list?x#y", "team": "../admin"},
    )
    store.put_domain(domain)
    store.put_link(link)
    store.put_contact(contact)
    w = World(store, store.client, domain, link, contact)  # type: ignore[arg-type]
    store.put_codes([(w.code, link.id, contact.id), (w.generic, link.id, None)])
    return w
