"""Measure Redis memory for the code and record layouts weighed in docs/decisions/0002 and 0003.

Starts a throwaway embedded Valkey (same settings as `smartlinks up`) and writes synthetic codes
and records under each layout, reporting INFO memory's used_memory delta per item. The real,
end-to-end figure (codes issued in Postgres and published by sync) is tests/sync/publish/test_memory.py.

    python -m loadtest.measure_memory [--codes 100000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import msgspec
import redis

from core import keys
from core.codes import new_code
from core.records import ContactRecord, LinkRecord, encode
from smartlinks.embedded import EmbeddedRedis, free_port

LINK = LinkRecord(
    id=123456,
    org_id=42,
    domain_id=77,
    hostname="go.example.org",
    version=98765432,
    destination="https://example.org/rsvp?first={{first_name}}&src={{fields.source|sms}}",
    name="Gala RSVP",
    extension="gala2021",
    preview_title="Gala 2021",
    preview_description="Join us for the annual gala",
    preview_image_url="https://admin.example.org/u/abcdef.jpg",
)
CONTACT = ContactRecord(
    id=7654321,
    org_id=42,
    version=98765433,
    phone="+15551234567",
    first_name="Ada",
    last_name="Lovelace",
    email="ada@example.org",
    fields={"source": "sms", "team": "red"},
)


def used(client: redis.Redis) -> int:
    info: dict[str, int] = client.info("memory")  # type: ignore[assignment]
    return int(info["used_memory"])


def fresh(client: redis.Redis) -> int:
    client.flushall(asynchronous=False)
    time.sleep(0.2)
    return used(client)


def measure_codes(client: redis.Redis, n: int) -> None:
    codes: set[str] = set()
    while len(codes) < n:
        codes.add(new_code())
    ordered = sorted(codes)

    def entry(i: int) -> str:
        return f"{100000 + i // 1000}:{2000000 + i}"

    for scheme in ("key-per-code", "bucket-1", "bucket-2", "bucket-3"):
        before = fresh(client)
        pipe = client.pipeline(transaction=False)
        if scheme == "key-per-code":
            for i, code in enumerate(ordered):
                pipe.set(f"sl:code:{code}", entry(i))
                if i % 10_000 == 9_999:
                    pipe.execute()
        else:
            k = int(scheme[-1])
            buckets: dict[str, dict[str, str]] = {}
            for i, code in enumerate(ordered):
                buckets.setdefault(f"sl:c:{code[:k]}", {})[code] = entry(i)
            for j, (bucket, mapping) in enumerate(buckets.items()):
                pipe.hset(bucket, mapping=mapping)  # type: ignore[arg-type]
                if j % 500 == 499:
                    pipe.execute()
        pipe.execute()
        sample = client.randomkey()
        encoding = client.object("encoding", sample) if sample else b"?"
        print(
            f"{n:>9} codes  {scheme:13} {(used(client) - before) / n:6.1f} B/code"
            f"  keys={client.dbsize():>7}  encoding={encoding!r}"
        )
    print(f"(the scheme in use: {keys.code_bucket('abcdefg')!r} for code 'abcdefg')")


def measure_records(client: redis.Redis, n: int = 50_000) -> None:
    for limit in (128, 1024):
        client.config_set("hash-max-listpack-value", limit)
        for kind, rec in (("link", LINK), ("contact", CONTACT)):
            for layout in ("hash", "string"):
                before = fresh(client)
                pipe = client.pipeline(transaction=False)
                for i in range(n):
                    r = msgspec.structs.replace(rec, id=1_000_000 + i)
                    key = f"sl:x:{1_000_000 + i}"
                    if layout == "hash":
                        pipe.hset(
                            key, mapping={"v": r.version, "d": encode(r), "dom": 77, "s": "a"}
                        )
                    else:
                        pipe.set(key, encode(r))
                    if i % 5_000 == 4_999:
                        pipe.execute()
                pipe.execute()
                encoding = client.object("encoding", "sl:x:1000001")
                print(
                    f"listpack-value {limit:>4}: {kind:7} ({len(encode(rec))} B msgpack) as"
                    f" {layout:6}: {(used(client) - before) / n:5.0f} B/record ({encoding!r})"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--codes", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp), free_port(), durable=False)
        proc = server.start()
        try:
            client = redis.Redis.from_url(server.url)
            measure_codes(client, args.codes)
            measure_records(client)
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
