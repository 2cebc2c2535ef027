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
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from mlgov.server.db import schema
from mlgov.server.db.engine import engine_from_settings, session_factory, unit_of_work
from mlgov.server.identity import schemas, service
from mlgov.settings import Settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def prepare(env: dict[str, str]) -> str:
    os.environ.update(env)
    settings = Settings()
    engine = engine_from_settings(settings)
    schema.upgrade(engine)
    with unit_of_work(session_factory(engine)) as session:
        token = service.bootstrap(session, "bench").token
        service.create_account(session, schemas.AccountCreate(name="bench", environment="dev"))
    engine.dispose()
    assert token is not None
    return token


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

    home = Path(tempfile.mkdtemp(prefix="mlgov-bench-"))
    env = {"MLGOV_HOME": str(home)}
    if args.database_url:
        env["MLGOV_DATABASE__URL"] = args.database_url
    token = prepare(env)
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "mlgov.server.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env={**os.environ, **env},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        store = "PostgreSQL" if args.database_url else "SQLite (embedded default)"
        print(
            f"mlgov API, one server process, {store}, {args.clients} concurrent clients, "
            f"{args.seconds:.0f} s per operation\n"
        )
        print("| operation                          | requests |    req/s |  p50 ms  |  p99 ms  |")
        print("|------------------------------------|----------|----------|----------|----------|")
        for label, method in (
            ("GET /accounts/{a} (authenticated)", "GET"),
            ("POST /org-units (audited write)", "POST"),
        ):
            latencies = asyncio.run(drive(url, token, args.clients, args.seconds, method))
            print(summarize(label, latencies, args.seconds))
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
