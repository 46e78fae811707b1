"""Issue 12's trial: faults injected into a real `smartlinks up` under ~1,000 clicks/s of HTTP.

    python -m loadtest.trial [--rate 1000] [--workers 2] [--before 8] [--after 17]
                             [--faults valkey-kill,valkey-stop,drain,postgres,sync,edge-worker]

Starts `smartlinks up` (a subprocess, its own data folder, embedded PostgreSQL and Valkey,
every role), creates an organisation (`smartlinks org create`), a verified domain, --contacts
contacts and a link with actions (whisper, add a tag, remove from a list) through the admin
API, issues each contact's code, and clicks each code once. Then a load of person GETs at
--rate, each for one of those recently clicked codes (and one in twenty for the link's generic
code), each marked by its Referer (``<prefix><n>``), drives the edge over keep-alive
connections while each fault is injected in turn (--before seconds of load, the fault, then
--after seconds):

  valkey-kill   kill -9 of Valkey (`up` starts it again on its port with its AOF)
  valkey-stop   SIGSTOP of Valkey for --stall seconds, then SIGCONT
  drain, sync   kill -9 of the role's process group (`up` starts it again)
  postgres      kill -9 of the postmaster and its backends (`up` starts it: crash recovery)
  edge-worker   kill -9 of one granian worker of the edge (granian starts another)

Columns, per fault (the requests sent in its window, from --before seconds ahead of the fault
to --after seconds after it):
  served       answered 302 (each one a click that must be recorded)
  recent ok    of the requests for recently clicked codes (all of them here), the share
               answered 302: at least 95% during the Valkey faults is issue 12's bar
  recorded     requests whose marker is in PostgreSQL's ``clicks``
  lost         answered 302, not recorded
  phantom      answered anything else (503, 404, ...), recorded
  no answer    the connection failed before an answer (a killed worker's requests in flight);
               in brackets, how many of those were recorded anyway
  from memory  answers the edge gave from its memory of recent answers (its /metrics)
  actions      clicks with their whisper in the contact's history / recorded clicks by contacts
  repeated     whisper history events beyond one per click
  recovery     from the fault until every request is answered 302 again and every click is in
               PostgreSQL within --lag seconds of its answer; in brackets, the restart's own
               time, and for sync the time until a change made while it was down is served

Exits 1 when a click was lost, a phantom recorded or an action repeated.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import tempfile
import threading
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from loadtest.httpload import IPHONE, Load
from loadtest.report import markdown_table
from loadtest.stack import busiest_worker
from loadtest.upstack import HOST, Seeded, Up, click, log_lines, role_started, seed, wait_for

FAULTS = ("valkey-kill", "valkey-stop", "drain", "postgres", "sync", "edge-worker")

class Recorded:
    """The trial's clicks in PostgreSQL, by marker number, read as they arrive."""

    def __init__(self, up: Up, prefix: str) -> None:
        self.up, self.prefix = up, prefix
        self.seen: dict[int, float] = {}  # marker -> when first seen here (monotonic)
        self.last_id = 0

    def poll(self) -> None:
        rows = self.up.sql(
            "SELECT id, referer FROM clicks WHERE id > %s AND referer LIKE %s ORDER BY id",
            (self.last_id - 5000, self.prefix + "%"),  # a margin: ids may commit out of order
        )
        now = time.monotonic()
        for row_id, referer in rows:
            self.seen.setdefault(int(referer[len(self.prefix) :]), now)
            self.last_id = max(self.last_id, row_id)

    def counts(self, markers: list[int]) -> dict[int, int]:
        rows = self.up.sql(
            "SELECT referer, count(*) FROM clicks WHERE referer = ANY(%s) GROUP BY referer",
            ([f"{self.prefix}{n}" for n in markers],),
        )
        return {int(r[len(self.prefix) :]): int(c) for r, c in rows}


LABELS = {
    "valkey-kill": "Valkey kill -9",
    "valkey-stop": "Valkey SIGSTOP {stall:g} s",
    "drain": "drain kill -9",
    "postgres": "PostgreSQL kill -9",
    "sync": "sync kill -9",
    "edge-worker": "edge worker kill -9",
}


def inject(up: Up, fault: str, args: argparse.Namespace, seeded: Seeded, api: httpx.Client) -> str:
    """Hurt the stack (in a thread of its own: the load and the sampling go on); what is worth
    saying about the recovery besides the load's own measure."""
    faulted = time.monotonic()
    if fault == "valkey-kill":
        up.kill9(up.server("valkey"))
    elif fault == "valkey-stop":
        valkey = up.server("valkey")
        valkey.suspend()
        time.sleep(args.stall)
        valkey.resume()
    elif fault == "postgres":
        up.kill9(up.server("postgres"))
        back = wait_for(lambda: up.sql("SELECT 1") == [(1,)], 120, "PostgreSQL back", 0.1)
        return f"PostgreSQL accepting again at {back:.1f} s"
    elif fault == "edge-worker":
        edge = up.role("edge")
        worker = busiest_worker(edge.pid)
        assert worker != edge.pid, "no edge worker found"
        os.kill(worker, signal.SIGKILL)
    elif fault == "drain":
        old = up.role("drain")
        up.kill9(old)
        wait_for(lambda: role_started(up, "drain", old.pid), 60, "drain restarted", 0.05)
        started = time.monotonic() - faulted
        # sync/clicks/takeover.py: the dead drain's pending clicks, claimed at once
        wait_for(lambda: bool(log_lines(up, "took over a gone consumer's clicks", f":{old.pid}")),
              30, "the takeover", 0.05)  # fmt: skip
        return (f"new drain started at {started:.1f} s, took the dead one's pending clicks over"
                f" at {time.monotonic() - faulted:.1f} s")  # fmt: skip
    elif fault == "sync":
        old = up.role("sync")
        up.kill9(old)
        # A change made while sync is down: served by the edge once sync is back.
        marker = secrets.token_hex(4)
        r = api.patch(f"/links/{seeded.link_id}", json={
            "destination": f"https://example.org/rsvp?first={{{{first_name}}}}&v={marker}"
        })  # fmt: skip
        assert r.status_code == 200, r.text
        wait_for(lambda: role_started(up, "sync", old.pid), 60, "sync restarted", 0.05)
        restarted = time.monotonic()
        edge = httpx.Client(base_url=f"http://127.0.0.1:{up.edge_port}", timeout=5)

        def served() -> bool:
            r = edge.head(f"/{seeded.generic}", headers={"Host": HOST, "User-Agent": IPHONE})
            return marker in r.headers.get("location", "")

        wait_for(served, 60, "the change made while sync was down", 0.05)
        took = time.monotonic() - restarted
        return f"the change made meanwhile served {took:.1f} s after restart"
    else:
        raise ValueError(fault)
    return ""

@dataclass
class Window:
    fault: str
    began: float
    faulted: float = 0.0
    ended: float = 0.0
    note: str = ""
    samples: list[tuple[float, bool]] = field(default_factory=list)  # (when, clicks late)
    edge_before: dict[str, int] = field(default_factory=dict)
    edge_after: dict[str, int] = field(default_factory=dict)


def edge_metrics(up: Up) -> dict[str, int]:
    text = httpx.get(f"http://127.0.0.1:{up.edge_port}/metrics", timeout=5).text
    found = re.finditer(r"^smartlinks_edge_(\w+_total) (\S+)$", text, re.M)
    return {m[1]: int(float(m[2])) for m in found}


def window_row(w: Window, load: Load, recorded: Recorded, up: Up, stall: float) -> dict[str, Any]:
    mine = [r for r in load.snapshot() if w.began <= r.sent < w.ended]
    counts = recorded.counts([r.n for r in mine])
    served = [r for r in mine if r.status == 302]
    recent = [r for r in mine if r.recent]
    no_answer = [r for r in mine if r.status == 0]
    ((whispers, whispered, by_contacts),) = up.sql(
        "SELECT count(h.id), count(DISTINCT h.click_id), count(DISTINCT c.click_id)"
        " FILTER (WHERE c.contact_id IS NOT NULL) FROM clicks c LEFT JOIN history_events h"
        " ON h.click_id = c.click_id AND h.type = 'whisper' WHERE c.referer = ANY(%s)",
        ([f"{recorded.prefix}{r.n}" for r in served],),
    )
    # Recovery: the last request after the fault not answered 302, and the last sample when a
    # click answered more than --lag seconds before was not yet in PostgreSQL.
    bad = [r.sent + r.took for r in mine if r.sent >= w.faulted and r.status != 302]
    late = [t for t, is_late in w.samples if t >= w.faulted and is_late]
    recovery = max([0.0, *(b - w.faulted for b in bad), *(t - w.faulted for t in late)])
    delta = {k: w.edge_after.get(k, 0) - w.edge_before.get(k, 0) for k in w.edge_after}
    return {
        "fault": LABELS[w.fault].format(stall=stall),
        "load": f"{len(mine) / (w.ended - w.began):.0f}/s",
        "requests": len(mine),
        "served": len(served),
        "recent ok": f"{100 * sum(r.status == 302 for r in recent) / max(1, len(recent)):.2f}%",
        "recorded": sum(1 for r in mine if counts.get(r.n)),
        "lost": sum(1 for r in served if not counts.get(r.n)),
        "phantom": sum(1 for r in mine if r.status not in (0, 302) and counts.get(r.n)),
        "no answer": f"{len(no_answer)} ({sum(1 for r in no_answer if counts.get(r.n))} recorded)",
        "from memory": delta.get("memory_answers_total", 0),
        "actions": f"{whispered}/{by_contacts}",
        "repeated": int(whispers) - int(whispered),
        "recovery": f"{recovery:.1f} s" + (f" ({w.note})" if w.note else ""),
    }


def run_fault(up: Up, load: Load, recorded: Recorded, fault: str, args: argparse.Namespace,
              seeded: Seeded, api: httpx.Client) -> dict[str, Any]:  # fmt: skip
    w = Window(fault, time.monotonic(), edge_before=edge_metrics(up))

    def sample_until(until: float) -> None:
        while time.monotonic() < until:
            with suppress(psycopg.Error):
                recorded.poll()
                now = time.monotonic()
                late = any(
                    r.status == 302 and w.began <= r.sent < now - args.lag - r.took
                    and r.n not in recorded.seen for r in load.snapshot()
                )  # fmt: skip
                w.samples.append((now, late))
            time.sleep(0.25)

    sample_until(w.began + args.before)
    w.faulted = time.monotonic()
    notes: list[str] = []
    thread = threading.Thread(
        target=lambda: notes.append(inject(up, fault, args, seeded, api)), daemon=True
    )
    thread.start()
    sample_until(w.faulted + args.after)
    thread.join()
    w.ended = time.monotonic()
    w.note = "".join(notes)

    def caught_up() -> bool:  # every click of the window recorded (the load goes on)
        recorded.poll()
        return all(r.n in recorded.seen for r in load.snapshot()
                   if w.began <= r.sent < w.ended and r.status == 302)  # fmt: skip

    with suppress(TimeoutError):
        wait_for(caught_up, 60, "catch-up", 0.5)
    sample_until(time.monotonic() + 1.0)
    w.edge_after = edge_metrics(up)
    return window_row(w, load, recorded, up, args.stall)


def main() -> int:
    p = argparse.ArgumentParser(
        prog="python -m loadtest.trial", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--rate", type=float, default=1000)
    p.add_argument("--workers", type=int, default=2, help="edge workers (EDGE_WORKERS)")
    p.add_argument("--contacts", type=int, default=1000)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--before", type=float, default=8)
    p.add_argument("--after", type=float, default=17)
    p.add_argument("--stall", type=float, default=10)
    p.add_argument("--lag", type=float, default=2.0, help="clicks recorded within this is normal")
    p.add_argument("--faults", default=",".join(FAULTS))
    p.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = p.parse_args()
    rows = []
    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="trial-"))
        print(f"work folder: {work}", flush=True)
        if not args.keep:  # last: after `up` has stopped
            stack.callback(shutil.rmtree, work, ignore_errors=True)
        up = Up(work, args.workers)
        up.start()
        stack.callback(up.stop)
        seeded, api = seed(up, args.contacts)
        base = f"http://127.0.0.1:{up.edge_port}"
        # Each code clicked once (and published to Redis first: sync runs after the issue).
        edge = stack.enter_context(httpx.Client(base_url=base, timeout=5))
        for code in [*seeded.recent, seeded.generic]:
            wait_for(lambda c=code: click(edge, c) == 302, 30, code, 0.1)  # type: ignore[misc]
        prefix = f"https://trial.example.test/{secrets.token_hex(3)}/"

        def pick(n: int) -> tuple[str, bool]:
            if n % 20 == 0:
                return seeded.generic, True
            return seeded.recent[(n * 7919) % len(seeded.recent)], True

        load = Load("127.0.0.1", up.edge_port, HOST, prefix, pick, args.rate, args.connections)
        load.start()
        stack.callback(load.stop)
        time.sleep(3)  # warm: connections open, codes clicked again
        recorded = Recorded(up, prefix)
        for fault in args.faults.split(","):
            rows.append(run_fault(up, load, recorded, fault, args, seeded, api))
            print(json.dumps(rows[-1]), flush=True)
    print("\n" + markdown_table(rows))
    return 0 if all(r["lost"] == r["phantom"] == r["repeated"] == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
