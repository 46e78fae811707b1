"""Running one function on several items at once, each in its own thread (races, concurrent
workers)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


def in_threads(work: Callable[[T], object], items: Iterable[T], timeout: float = 60) -> None:
    """``work(item)`` for every item, all started before any is waited for; each thread is
    waited for ``timeout`` seconds at most."""
    threads = [threading.Thread(target=work, args=(item,)) for item in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
