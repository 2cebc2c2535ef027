"""API benchmark: an authenticated GET and an audited POST at 50 concurrent clients.

Starts a real `mlgov` server (uvicorn, one process) on embedded defaults in a temporary
MLGOV_HOME, bootstraps it, then drives it from 50 concurrent httpx clients over loopback for a
fixed time per operation. Prints p50/p99 latency and requests/s.

    python bench/api.py [--seconds 10] [--clients 50] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

import httpx

from _server import running_server


async def drive(url: str, token: str, clients: int, seconds: float, method: str) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    headers = {"authorization": f"Bearer {token}"}
    counter = iter(range(10**9))

    async def worker(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            if method == "GET":
                response = await client.get("/api/v1/accounts/bench", headers=headers)
            else:
                name = f"ou-{os.getpid()}-{next(counter)}"
                response = await client.post(
                    "/api/v1/org-units", json={"name": name}, headers=headers
                )
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        await asyncio.gather(*(worker(client) for _ in range(clients)))
    return latencies


def summarize(name: str, latencies: list[float], seconds: float) -> str:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    rate = len(ordered) / seconds
    return f"| {name:<34} | {len(ordered):>8} | {rate:>8.0f} | {p50:>8.1f} | {p99:>8.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    with running_server(args.database_url) as server:
        print(
            f"mlgov API, one server process, {server.store}, {args.clients} concurrent clients, "
            f"{args.seconds:.0f} s per operation\n"
        )
        print("| operation                          | requests |    req/s |  p50 ms  |  p99 ms  |")
        print("|------------------------------------|----------|----------|----------|----------|")
        for label, method in (
            ("GET /accounts/{a} (authenticated)", "GET"),
            ("POST /org-units (audited write)", "POST"),
        ):
            latencies = asyncio.run(
                drive(server.url, server.token, args.clients, args.seconds, method)
            )
            print(summarize(label, latencies, args.seconds))


if __name__ == "__main__":
    main()
