"""What the edge's memory of recent answers (edge/memory.py) costs per remembered code.

    python -m loadtest.edge_memory [--entries 50000]

Builds the script's replies as Redis sends them (a new bytes object for every record of every
reply, contacts as hotpath.py seeds them: phone, names, two custom fields), decodes them as the
edge does (edge/resolve.py's ReplyDecoder) and remembers them, then reports the bytes held per
entry (tracemalloc) and the growth of the process's resident memory.
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
import tracemalloc

from core.records import encode
from edge.memory import Memory
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
    memory = Memory(args.entries * 2, max_age=3600)  # never rotates: every entry is kept
    gc.collect()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    batch = replies(args.entries)  # traced too: what the memory keeps of it is counted
    now = time.monotonic()
    for code, reply in batch:
        res = decode(reply)  # type: ignore[arg-type]
        memory.remember(HOST, code, res, now)
    del res, batch  # what the request held goes; what the memory holds stays
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"entries remembered: {len(memory):,}")
    print(f"held (tracemalloc): {held / 1e6:.1f} MB, {held / len(memory):.0f} bytes per entry")
    print(f"max RSS growth:     {(rss_after - rss_before) / 1e3:.1f} MB (includes the replies)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
