"""Click ids (edge/clicks.py): unique within a process and between forked workers."""

from __future__ import annotations

import os
import string

from edge.clicks import new_click_id


def test_click_ids_are_unique_in_a_process_and_across_a_fork():
    ids = {new_click_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(len(i) == 32 and set(i) <= set(string.hexdigits.lower()) for i in ids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a granian worker is a forked child of one main process
        os.close(read)
        os.write(write, "".join(new_click_id() for _ in range(100)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        child = f.read()
    os.waitpid(pid, 0)
    theirs = {child[i : i + 32] for i in range(0, len(child), 32)}
    assert len(theirs) == 100 and not theirs & ids
    assert {i[:16] for i in theirs}.isdisjoint({i[:16] for i in ids})  # another prefix
