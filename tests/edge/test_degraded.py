"""The edge through a Redis outage (issue 12, point 5), real granian and a real Valkey killed
and brought back: recently clicked codes keep redirecting from the server's memory, their
clicks are spooled and replayed into the stream exactly once, other codes answer 503, and an
edit or archive made meanwhile takes effect as soon as Redis answers again."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sync.publish.store import RecordStore
from tests.conftest import Servers
from tests.edge.conftest import HOST, IPHONE
from tests.edge.faults import (
    REFERER,
    Load,
    Valkey,
    edge_process,
    link,
    metric,
    seed,
    stream_requests,
    wait_until,
)

# Times what it measures or loads the whole machine: runs alone, after the parallel phase.
pytestmark = pytest.mark.serial


@pytest.fixture
def valkey(tmp_path: Path) -> Iterator[Valkey]:
    v = Valkey(tmp_path / "valkey", durable=True)
    yield v
    v.close()


def _get(base: str, code: str, **headers: str) -> httpx.Response:
    return httpx.get(
        f"{base}/{code}", headers={"Host": HOST, "User-Agent": IPHONE, **headers}, timeout=5
    )


def test_kill9_recent_codes_redirect_and_clicks_are_replayed_once(
    servers: Servers, valkey: Valkey, tmp_path: Path
):
    codes = seed(valkey.url, 260)
    recent, unseen = codes[:200], codes[200:]
    rdb = valkey.client()
    with edge_process(
        servers, valkey.url, tmp_path / "logs", EDGE_SPOOL_DIR=str(tmp_path / "spool")
    ) as (proc, base):
        before = {code: _get(base, code).headers["location"] for code in recent}
        assert len(set(before.values())) == 200  # each contact's own merge

        load = Load(base, pick=lambda n: recent[n % len(recent)], rate=200).start()
        try:
            time.sleep(1.0)
            killed = time.monotonic()
            valkey.kill9()
            time.sleep(0.5)
            # Codes this worker never resolved, and codes that exist nowhere: 503.
            for code in [*unseen[:5], "Zz99999"]:
                r = _get(base, code)
                assert (r.status_code, r.headers.get("retry-after")) == (503, "1")
            time.sleep(2.5)
            assert metric(base, "redis_outages_total") >= 1
            restarted = time.monotonic()
            valkey.restart()  # same port, same data (its AOF)
            time.sleep(1.5)
        finally:
            results = load.stop()

        during = [r for r in results if killed <= r.sent and r.sent + r.took <= restarted]
        assert len(during) > 100
        print(f"during the outage {len(during)}, 302 {sum(r.status == 302 for r in during)}")
        redirected = [r for r in during if r.status == 302]
        assert len(redirected) >= 0.95 * len(during), {r.status for r in during}
        assert all(r.location == before[r.code] for r in redirected)

        spooled = [r for r in results if r.sent >= killed and r.status == 302]
        wait_until(
            lambda: metric(base, "clicks_replayed_total") >= len(redirected), 10, "replay"
        )
        time.sleep(0.5)
        in_stream = stream_requests(rdb)
        assert [r.n for r in spooled if in_stream[r.n] != 1] == []
        assert [r.n for r in results if r.status != 302 and in_stream[r.n]] == []
        assert metric(base, "clicks_spooled_total") == metric(base, "clicks_replayed_total")
        assert metric(base, "memory_answers_total") >= len(redirected)
        assert metric(base, "clicks_unrecorded_total") == 0
        assert not list((tmp_path / "spool").glob("*.spool"))  # replayed, then removed
    rdb.close()


def test_edit_and_archive_take_effect_when_redis_is_back(
    servers: Servers, valkey: Valkey, tmp_path: Path
):
    kept = seed(valkey.url, 5, link_id=10, prefix="Ke")
    archived = seed(valkey.url, 5, link_id=11, prefix="Ar")
    with edge_process(
        servers, valkey.url, tmp_path / "logs", EDGE_SPOOL_DIR=str(tmp_path / "spool")
    ) as (proc, base):
        for code in kept + archived:
            assert _get(base, code).status_code == 302
        valkey.kill9()
        old = _get(base, kept[0]).headers["location"]
        assert old.startswith("https://example.org/rsvp?")  # from memory
        assert _get(base, archived[0]).status_code == 302

        # A fresh Valkey, re-seeded as sync would after edits made during the outage.
        valkey.restart(fresh=True)
        seed(valkey.url, 5, link_id=10, prefix="Ke")
        seed(valkey.url, 5, link_id=11, prefix="Ar")
        store = RecordStore(valkey.client())
        store.put_link(link(10, 2, "https://example.org/new?first={{first_name}}"))
        store.put_link(link(11, 2, "https://example.org/rsvp", archived=True))
        back = time.monotonic()
        seen_new = None
        for _ in range(60):
            r = _get(base, kept[0])
            if r.headers["location"].startswith("https://example.org/new?"):
                seen_new = time.monotonic() - back
                break
            time.sleep(0.02)
        assert seen_new is not None and seen_new < 1.0
        assert _get(base, archived[0]).status_code == 410
        assert _get(base, kept[1]).headers["location"].startswith("https://example.org/new?")

        # The archived link is forgotten: the next outage does not bring it back.
        valkey.kill9()
        assert _get(base, archived[0]).status_code == 503
        assert _get(base, kept[0]).headers["location"].startswith("https://example.org/new?")


@pytest.fixture
def unwritable_dir(tmp_path: Path) -> Iterator[Path]:
    """A read-only folder: a read-only bind mount when we are root (root ignores modes), else a
    folder without write permission."""
    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = False
    if os.geteuid() == 0:
        try:
            subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
            mounted = True
            subprocess.run(
                ["mount", "-o", "remount,ro,bind", str(folder)], check=True, capture_output=True
            )
        except (OSError, subprocess.CalledProcessError):
            pass
    else:
        folder.chmod(0o555)
    try:
        (folder / "probe").write_bytes(b"x")
    except OSError:
        pass
    else:
        pytest.skip("cannot make a read-only folder here")
    try:
        yield folder
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=False)
        folder.chmod(0o755)


def test_unwritable_spool_keeps_redirecting_and_counts_unrecorded(
    servers: Servers, valkey: Valkey, tmp_path: Path, unwritable_dir: Path
):
    codes = seed(valkey.url, 20)
    with edge_process(
        servers, valkey.url, tmp_path / "logs", EDGE_SPOOL_DIR=str(unwritable_dir / "spool")
    ) as (proc, base):
        for code in codes:
            assert _get(base, code).status_code == 302
        valkey.kill9()
        answered = [_get(base, code) for code in codes * 3]
        assert [r.status_code for r in answered] == [302] * 60
        wait_until(lambda: metric(base, "clicks_unrecorded_total") == 60, 5, "unrecorded")
        assert metric(base, "clicks_spooled_total") == 0
        assert metric(base, "memory_answers_total") == 60
        assert "spool not writable" in proc.log()


def _fresh_get(base: str, code: str, n: int) -> httpx.Response:
    """On a new connection each time: the kernel spreads them over the edge's workers."""
    return _get(base, code, Referer=f"{REFERER}{n}")


def test_two_workers_spool_and_replay_and_metrics_add_up(
    servers: Servers, valkey: Valkey, tmp_path: Path
):
    codes = seed(valkey.url, 10)
    rdb = valkey.client()
    with edge_process(
        servers,
        valkey.url,
        tmp_path / "logs",
        EDGE_SPOOL_DIR=str(tmp_path / "spool"),
        EDGE_WORKERS="2",
    ) as (proc, base):
        # Each code clicked once, through whichever worker took the connection: the memory
        # is the server's, so the other worker answers it too during the outage.
        for code in codes:
            assert _get(base, code).status_code == 302
        time.sleep(0.1)  # new answers are shared within FLUSH_SECONDS (edge/memory.py)
        valkey.kill9()
        answered = [_fresh_get(base, codes[n % 10], n) for n in range(100)]
        redirected = [n for n, r in enumerate(answered) if r.status_code == 302]
        assert len(redirected) == 100, [r.status_code for r in answered]
        valkey.restart()
        wait_until(
            lambda: metric(base, "clicks_replayed_total") >= len(redirected), 10, "replay"
        )
        time.sleep(1.2)  # the other worker's snapshot
        assert metric(base, "clicks_spooled_total") == len(redirected)
        assert metric(base, "clicks_replayed_total") == len(redirected)
        assert metric(base, "redis_outages_total") >= 2  # one per worker at least
        in_stream = stream_requests(rdb)
        assert sorted(in_stream) == redirected
        assert set(in_stream.values()) == {1}
    rdb.close()


def test_spool_of_a_killed_edge_is_replayed_by_the_next(
    servers: Servers, valkey: Valkey, tmp_path: Path
):
    """kill -9 of the edge during an outage: its spooled clicks are on disk; the edge started
    next (same spool folder) takes the file over and replays it once Redis is back."""
    codes = seed(valkey.url, 10)
    rdb = valkey.client()
    spool = tmp_path / "spool"
    with edge_process(servers, valkey.url, tmp_path / "logs", EDGE_SPOOL_DIR=str(spool)) as (
        proc,
        base,
    ):
        for code in codes:
            assert _get(base, code).status_code == 302
        valkey.kill9()
        answered = [_fresh_get(base, codes[n % 10], n) for n in range(30)]
        assert [r.status_code for r in answered] == [302] * 30
        wait_until(lambda: metric(base, "clicks_spooled_total") == 30, 5, "the fsync")
        proc.kill()  # SIGKILL to the whole group: no shutdown, no replay
        proc.proc.wait(10)
    assert len(list(spool.glob("*.spool"))) == 1
    valkey.restart()
    with edge_process(servers, valkey.url, tmp_path / "logs2", EDGE_SPOOL_DIR=str(spool)) as (
        proc,
        base,
    ):
        wait_until(lambda: metric(base, "clicks_replayed_total") == 30, 10, "the takeover")
        assert "spool taken over" in proc.log()
    in_stream = stream_requests(rdb)
    assert sorted(in_stream) == list(range(30)) and set(in_stream.values()) == {1}
    assert list(spool.glob("*.spool")) == []
    rdb.close()
