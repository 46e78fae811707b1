"""Running one function on several items at once, each in its own thread (races, concurrent
workers), and a coroutine on a thread of its own."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


def in_threads(work: Callable[[T], object], items: Iterable[T], timeout: float = 60) -> None:
    """``work(item)`` for every item, all started before any is waited for; each thread is
    waited for ``timeout`` seconds at most."""
    threads = [threading.Thread(target=work, args=(item,)) for item in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run(coro) on a thread of its own, its result or its exception returned here.
    Not in this thread: once a browser test ran in this process, Playwright's event loop is
    running in the main thread and asyncio.run() there fails; the suite's two processes take
    whole files in an order of their own (largest first), so browser tests may come first."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 (handed to the caller as it is)
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]
