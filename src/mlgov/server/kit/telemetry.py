"""The platform's own counters: requests by route and status, latencies, worker heartbeats.

Process-local and thread-safe; ``/metrics`` renders them in the Prometheus text format. Each server
or worker process reports its own, as Prometheus expects of scrape targets.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

# Seconds; the defaults of the Prometheus client libraries, which suit request latencies.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS, value)] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[int]:
        running, out = 0, []
        for n in self.counts:
            running += n
            out.append(running)
        return out


@dataclass
class Heartbeat:
    last_run: float  # epoch seconds when the run started
    lag: float  # seconds between the scheduled tick and the run's start
    duration: float


class PlatformTelemetry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = {}
        self.latencies: dict[tuple[str, str], Histogram] = {}
        self.heartbeats: dict[str, Heartbeat] = {}
        self.started = time.time()

    def record_request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (method, route, str(status))
            self.requests[key] = self.requests.get(key, 0) + 1
            self.latencies.setdefault((method, route), Histogram()).observe(seconds)

    def record_run(self, worker: str, *, scheduled: float, started: float, finished: float) -> None:
        with self._lock:
            self.heartbeats[worker] = Heartbeat(
                last_run=started, lag=max(0.0, started - scheduled), duration=finished - started
            )

    def snapshot(
        self,
    ) -> tuple[
        dict[tuple[str, str, str], int], dict[tuple[str, str], Histogram], dict[str, Heartbeat]
    ]:
        with self._lock:
            latencies = {
                k: Histogram(list(h.counts), h.total, h.count) for k, h in self.latencies.items()
            }
            return dict(self.requests), latencies, dict(self.heartbeats)


ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


class RequestMetricsMiddleware:
    """Counts every HTTP request by its route template (not its raw path) and final status."""

    def __init__(self, app: ASGIApp, telemetry: PlatformTelemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def capture(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None)
            self.telemetry.record_request(
                scope.get("method", "GET"),
                str(template) if template else "unmatched",
                status,
                time.perf_counter() - start,
            )
