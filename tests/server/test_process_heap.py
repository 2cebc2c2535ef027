"""What the long-running entry points do to the cyclic collector once they have started."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import gc, json
from mlgov.server.app import YOUNG_COLLECTION_ALLOCATIONS, freeze_startup_heap
before = gc.get_freeze_count()
freeze_startup_heap()
print(json.dumps({"before": before, "frozen": gc.get_freeze_count(),
                  "threshold": gc.get_threshold(), "young": YOUNG_COLLECTION_ALLOCATIONS}))
"""


def test_the_startup_heap_is_frozen_and_young_collections_are_rarer() -> None:
    # In a process of its own: the collector's settings are global to a process.
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    seen = json.loads(done.stdout)
    assert seen["before"] == 0
    assert seen["frozen"] > 10_000  # modules, classes, the ORM's mappings
    assert seen["threshold"][0] == seen["young"] > 700  # CPython's default is 700
