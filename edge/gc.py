"""The garbage collector of an edge worker, set once its start-up is done.

A full collection walks every tracked object of the worker, and while it runs no request is
answered: at half load those pauses, not a slower path, make the p99 (docs/performance.md,
"Tail latency"). Two settings, measured there:

- ``gc.freeze()`` after start-up: the modules, Starlette and crawlerdetect's patterns move to
  the permanent generation, which no collection walks again.
- a larger first threshold: the request path makes few reference cycles, so young
  collections run less often, and with them the older generations they promote into.
"""

from __future__ import annotations

import gc

# Allocations (net of frees) of tracked objects between young collections; CPython's default
# is 700. The older generations' thresholds (collections of the one below) stay as they are.
GEN0_THRESHOLD = 20_000


def settle() -> None:
    """Called once by each worker when its start-up is done (edge.app's lifespan)."""
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
