"""What the edge's memory of recent answers (edge/memory.py) costs per remembered code.

    python -m loadtest.edge_memory [--entries 50000]

Builds the script's replies as Redis sends them (a new bytes object for every record of every
reply, contacts as hotpath.py seeds them: phone, names, two custom fields), decodes them as the
edge does (edge/resolve.py's ReplyDecoder) and remembers them, then reports the bytes of the
shared file in use per entry (once per server, however many workers), the bytes this worker
holds besides (tracemalloc: its note of what it wrote) and the time per remember.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
import tracemalloc
from pathlib import Path

from core.records import encode
from edge.memory import LOCAL_ENTRIES, Memory
from edge.resolve import ReplyDecoder
from loadtest import hotpath
from loadtest.hotpath import DOMAIN, HOST, LINK


def replies(n: int) -> list[tuple[str, list[object]]]:
    domain, link = encode(DOMAIN), encode(LINK)
    out = []
    for i in range(1, n + 1):
        contact = encode(hotpath.contact(i))
        reply = [3, bytes(domain), bytes(link), contact, f"1:{i}:1".encode(), 1]
        out.append((f"C{i:06d}", reply))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m loadtest.edge_memory", description=__doc__)
    p.add_argument("--entries", type=int, default=50_000)
    args = p.parse_args(argv)
    decode = ReplyDecoder()
    folder = tempfile.TemporaryDirectory(prefix="edge-memory-")
    # never rotates: every entry is kept
    memory = Memory(args.entries * 2, max_age=3600, decode=decode, folder=Path(folder.name))
    batch = [(code, decode(reply)) for code, reply in replies(args.entries)]  # type: ignore[arg-type]
    now = time.time()
    began = time.process_time()
    for code, res in batch:
        memory.remember(HOST, code, res, now)
    memory.flush()
    new = time.process_time() - began
    began = time.process_time()
    for code, res in batch:  # the last 2 x LOCAL_ENTRIES are noted: no read for those
        memory.remember(HOST, code, res, now)
    again = time.process_time() - began
    memory.current, memory.previous = {}, {}  # the note again, measured by tracemalloc
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for code, res in batch:
        memory.remember(HOST, code, res, now)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    n = len(memory)
    print(f"entries remembered: {n:,}")
    print(f"shared file in use: {memory.size_bytes() / 1e6:.1f} MB, "
          f"{memory.size_bytes() / n:.0f} bytes per entry (once per server)")
    print(f"held by the worker: {held / 1e6:.1f} MB"
          f" (its note of what it wrote: at most 2 x {LOCAL_ENTRIES:,} entries)")
    print(f"remember, CPU per call: a new code {new / n * 1e6:.1f} us (written in batches); the"
          f" same answers again {again / n * 1e6:.2f} us (the last {2 * LOCAL_ENTRIES:,} noted by"
          " the worker, the others read again in batches)")
    memory.close()
    folder.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
