"""The memory of recent answers (edge/memory.py): its bounds, its age limit, that every worker
process of a server shares it, that a repeated click does not write and new answers are
written in batches."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from core import records
from core.records import DomainRecord, LinkRecord
from edge.memory import FLUSH_ENTRIES, Memory
from edge.resolve import Outcome, ReplyDecoder, Resolution


def _found(n: int, version: int = 1) -> Resolution:
    domain = DomainRecord(id=1, org_id=1, hostname="h", version=1)
    link = LinkRecord(
        id=n, org_id=1, domain_id=1, hostname="h", version=version, destination="https://x.test/"
    )
    return Resolution(Outcome.FOUND, domain, link, None, None, b"%d::1" % n, True)


def _memory(folder: Path, entries: int = 100, max_age: float = 60) -> Memory:
    return Memory(entries=entries, max_age=max_age, decode=ReplyDecoder(), folder=folder)


def test_memory_is_bounded_and_stale_answers_are_not_used(tmp_path: Path):
    memory = _memory(tmp_path / "memory")
    for n in range(1000):
        memory.remember("h", f"c{n}", _found(n), now=0.0)
        assert len(memory) <= 100
    memory.flush()
    assert memory.recall("h", "c999", now=1.0) is not None
    assert memory.recall("h", "c0", now=1.0) is None  # evicted
    hit = memory.recall("h", "c990", now=60.0)
    assert hit is not None and hit.remembered and not hit.recorded and hit.ref == b"990::1"
    assert hit.link == _found(990).link and hit.domain == _found(990).domain
    assert memory.recall("h", "c990", now=60.5) is None  # older than max_age
    memory.forget("h", "c999")
    assert memory.recall("h", "c999", now=1.0) is None
    assert memory.size_bytes() > 0
    off = _memory(tmp_path / "off", entries=0)
    off.remember("h", "c", _found(1), now=0.0)
    assert len(off) == 0 and not (tmp_path / "off").exists()


def test_a_repeated_click_writes_nothing_and_a_new_version_is_written(tmp_path: Path):
    memory = _memory(tmp_path / "memory")
    assert memory.env is not None
    res = _found(1)
    memory.remember("h", "c", res, now=0.0)
    assert memory.recall("h", "c", now=0.0) is not None  # waiting, recalled by its worker
    memory.flush()
    txn_id = memory.env.info()["last_txnid"]
    for i in range(100):
        memory.remember("h", "c", res, now=i / 100)
        memory.flush()
    assert memory.env.info()["last_txnid"] == txn_id  # no write transaction
    memory.remember("h", "c", _found(1, version=2), now=1.0)
    memory.flush()
    assert memory.env.info()["last_txnid"] == txn_id + 1
    hit = memory.recall("h", "c", now=1.0)
    assert hit is not None and hit.link is not None and hit.link.version == 2
    # Rewritten now and then, so that its age stays that of Redis's last answer.
    memory.remember("h", "c", _found(1, version=2), now=1.0 + memory.refresh)
    memory.flush()
    assert memory.env.info()["last_txnid"] == txn_id + 2


def test_new_answers_are_written_in_batches(tmp_path: Path):
    memory = _memory(tmp_path / "memory", entries=10_000)
    assert memory.env is not None
    txn_id = memory.env.info()["last_txnid"]
    for n in range(FLUSH_ENTRIES * 4):
        memory.remember("h", f"c{n}", _found(n), now=0.0)
    assert memory.env.info()["last_txnid"] == txn_id + 4  # one transaction per batch
    assert len(memory) == FLUSH_ENTRIES * 4


def test_a_hot_code_outlives_any_number_of_generations(tmp_path: Path):
    memory = _memory(tmp_path / "memory", entries=20)
    hot = _found(0)
    for n in range(1, 200):
        memory.remember("h", "hot", hot, now=0.0)
        memory.remember("h", f"c{n}", _found(n), now=0.0)
        memory.flush()
    assert memory.gen > 10
    assert memory.recall("h", "hot", now=0.0) is not None


_OTHER_WORKER = """
import sys
from pathlib import Path
from edge.memory import FLUSH_ENTRIES, Memory
from edge.resolve import ReplyDecoder
from tests.edge.test_memory import _found
memory = Memory(entries=100, max_age=60, decode=ReplyDecoder(), folder=Path(sys.argv[1]))
memory.remember("h", "theirs", _found(7), now=float(sys.argv[2]))
memory.forget("h", "mine")
memory.close()  # writes what waits
"""


def test_every_worker_process_shares_it(tmp_path: Path):
    """What another process (a granian worker) remembered is recalled here, and what it
    forgot is forgotten here, while both have the memory open."""
    folder = tmp_path / "memory"
    memory = _memory(folder)
    memory.remember("h", "mine", _found(3), now=5.0)
    memory.flush()
    assert memory.recall("h", "mine", now=5.0) is not None
    subprocess.run([sys.executable, "-c", _OTHER_WORKER, str(folder), "5.0"], check=True)
    theirs = memory.recall("h", "theirs", now=6.0)
    assert theirs is not None and theirs.link is not None and theirs.link.id == 7
    assert records.encode(theirs.link) == records.encode(_found(7).link)
    assert memory.recall("h", "mine", now=6.0) is None
