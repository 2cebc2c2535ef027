"""Pausing Python's cyclic garbage collector around work that only makes short-lived objects.

A PutMetricData body parses into thousands of dicts and lists that all live until the batch is
stored and then die by reference counting. With the collector running, its young-generation
passes see them alive, promote them, and the promotions count towards the next full collection,
which walks every object of the server (a few hundred thousand): by profile about 2 ms per batch
of 1,000 datapoints, more than decoding the batch. Paused, the containers are freed before any
pass sees them. The pause covers one batch (milliseconds); collection resumes after it, and
nothing is leaked, only not collected while paused.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0  # threads inside collector_paused()
_resume = False  # whether the first holder found the collector enabled (and so re-enables it)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Disable the collector until every thread inside this context has left it.

    Never re-enables a collector that someone else disabled.
    """
    global _holders, _resume
    with _lock:
        if _holders == 0:
            _resume = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _resume:
                gc.enable()
