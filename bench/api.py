"""API benchmark: an authenticated GET and an audited POST at 50 concurrent clients.

Starts a real `mlgov` server (uvicorn, one process) on embedded defaults in a temporary
MLGOV_HOME, bootstraps it, then drives it from 50 concurrent connections over loopback for a
fixed time per operation (from ``wrk`` when installed: bench/_load.py). Prints p50/p99 latency
and requests/s.

    python bench/api.py [--seconds 10] [--clients 50] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse

from _load import UNIQUE, Call, driver, load
from _machine import Yardstick
from _server import running_server

OPERATIONS = (
    ("GET /accounts/{a} (authenticated)", Call("/api/v1/accounts/bench")),
    (
        "POST /org-units (audited write)",
        Call("/api/v1/org-units", "POST", f'{{"name":"ou-{UNIQUE}"}}'.encode(), "application/json"),
    ),
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    yardstick = Yardstick()

    with running_server(args.database_url) as server:
        print(
            f"mlgov API, one server process, {server.store}, {args.clients} concurrent clients "
            f"(load from {driver()}), {args.seconds:.0f} s per operation\n"
        )
        print("| operation                          | requests |    req/s |  p50 ms  |  p99 ms  |")
        print("|------------------------------------|----------|----------|----------|----------|")
        headers = {"authorization": f"Bearer {server.token}"}
        for label, call in OPERATIONS:
            result = load(
                server.url, [call], headers=headers, connections=args.clients, seconds=args.seconds
            )
            print(
                f"| {label:<34} | {result.requests:>8} | {result.rate:>8.0f} "
                f"| {result.p50_ms:>8.1f} | {result.p99_ms:>8.1f} |"
            )

    print(yardstick.report())


if __name__ == "__main__":
    main()
