"""A yardstick for the machine a benchmark ran on.

The VMs these benchmarks run on do not keep one speed. On 2026-12-06 the same ingest benchmark
ran at 137,000 datapoints/s in the morning and at 50,000-61,000 in the evening, and not every
kind of work slowed alike: a tight Python loop (all in the CPU's caches) was as fast as ever,
parsing JSON took 1.7 times as long, and describing a registry version, which touches a server's
whole heap, 3.7 times as long; random lookups in a dictionary larger than the caches took 0.9 us
each. Each benchmark prints all three, at its start and at its end, so that figures from two runs
can be compared, or set aside.
"""

from __future__ import annotations

import json
import random
import time

import pydantic_core

STEPS = 10_000_000
# About 1 MB of metric-like JSON, the same bytes on every machine.
DOCUMENT = json.dumps(
    [
        {
            "metric_name": f"m{i % 10}",
            "value": i * 0.37,
            "timestamp": f"2026-12-06T10:{i % 60:02d}:00Z",
        }
        for i in range(12_000)
    ]
).encode()


def loop_seconds(repeat: int = 3) -> float:
    """The best of ``repeat`` timings of ten million additions in a Python loop."""
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        total = 0
        for step in range(STEPS):
            total += step
        best = min(best, time.perf_counter() - began)
    return best


def lookup_microseconds(size: int = 2_000_000, lookups: int = 1_000_000) -> float:
    """Per lookup, the best of three passes of random lookups in a dict of ``size`` int keys:
    memory latency, which a neighbour on the same host can multiply."""
    table = {n * 7919 % (1 << 40): n for n in range(size)}
    keys = list(table)[:lookups]
    random.Random(0).shuffle(keys)
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        total = 0
        for key in keys:
            total += table[key]
        best = min(best, time.perf_counter() - began)
    return best / lookups * 1e6


def parse_milliseconds(repeat: int = 20) -> float:
    """The best of ``repeat`` timings of parsing ``DOCUMENT`` into Python objects."""
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        pydantic_core.from_json(DOCUMENT)
        best = min(best, time.perf_counter() - began)
    return best * 1000


class Yardstick:
    """Measure at construction (the start of a run); ``report()`` measures again and says both."""

    def __init__(self) -> None:
        self.start = self._measure()

    @staticmethod
    def _measure() -> tuple[float, float, float]:
        return loop_seconds(), parse_milliseconds(), lookup_microseconds()

    def report(self) -> str:
        end = self._measure()
        return (
            "machine yardstick (lower is faster), start / end of this run: ten million Python "
            f"additions {self.start[0]:.2f} / {end[0]:.2f} s; parsing 1 MB of JSON "
            f"{self.start[1]:.1f} / {end[1]:.1f} ms; a random lookup in a 2-million-key dict "
            f"{self.start[2]:.2f} / {end[2]:.2f} us"
        )
