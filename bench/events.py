"""Event bus benchmark: events delivered per second to a loopback webhook.

Builds a fresh database (SQLite in a temporary MLGOV_HOME by default) with one account, one rule
and one signed webhook target on a local HTTP server, writes N events into the transactional
outbox in one transaction, then times the dispatcher from the first routing pass until the
receiver has every event (routing, claiming, signing, sending and recording included).

    python bench/events.py [--events 5000] [--concurrency 1,8,32] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from _machine import Yardstick
from mlgov.server.app import build_runtime
from mlgov.server.db import schema
from mlgov.server.db.engine import unit_of_work
from mlgov.server.events import schemas, service
from mlgov.server.events.dispatcher import Dispatcher
from mlgov.server.identity import schemas as identity_schemas
from mlgov.server.identity import service as identity
from mlgov.server.kit import outbox
from mlgov.server.kit.context import Caller
from mlgov.settings import DatabaseSettings, EventsSettings, Settings


class Receiver:
    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.lock:
                    receiver.count += 1
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def run(database_url: str | None, events: int, concurrency: int, home: Path) -> float:
    settings = Settings(
        home=home,
        database=DatabaseSettings(url=database_url),
        events=EventsSettings(delivery_concurrency=concurrency, batch_size=500),
    )
    runtime = build_runtime(settings)
    schema.upgrade(runtime.engine)
    receiver = Receiver()
    with unit_of_work(runtime.session_factory) as session:
        identity.bootstrap(session, "bench")
        account = identity.create_account(
            session, identity_schemas.AccountCreate(name=f"bench-{concurrency}", environment="dev")
        )
        caller = Caller("bench", "bench", "user", None, "bench")
        bus = service.get_bus(session, account.id, "default")
        rule = service.put_rule(
            session, bus, "all", schemas.RulePut(event_pattern={"source": ["bench"]}), caller
        )
        service.put_targets(
            session,
            rule,
            [
                schemas.TargetPut(
                    id="hook",
                    type=schemas.TargetType.WEBHOOK,
                    config={"url": receiver.url},
                    secret="bench-signing-secret-0001",
                )
            ],
        )
        for n in range(events):
            outbox.emit(
                session,
                account_id=account.id,
                source="bench",
                detail_type="Tick",
                detail={"n": n, "payload": "x" * 200},
            )
    dispatcher = Dispatcher(runtime)
    started = time.perf_counter()
    while receiver.count < events:
        if not dispatcher.run_once():
            time.sleep(0.001)
    elapsed = time.perf_counter() - started
    dispatcher.close()
    receiver.server.shutdown()
    receiver.server.server_close()
    runtime.engine.dispose()
    return elapsed


def delivered_per_second(
    events: int = 5000, concurrency: int = 8, database_url: str | None = None
) -> float:
    """Events/s of one run in a fresh temporary MLGOV_HOME (for other benchmarks to import)."""
    with tempfile.TemporaryDirectory(prefix="mlgov-bench-events-") as home:
        return events / run(database_url, events, concurrency, Path(home))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    args = parser.parse_args()
    yardstick = Yardstick()
    levels = [int(c) for c in args.concurrency.split(",")]
    store = "PostgreSQL" if args.database_url else "SQLite"
    print(f"events delivered to a loopback webhook ({args.events} events, {store})\n")
    print(f"| {'send concurrency':>16} | {'events':>8} | {'seconds':>8} | {'events/s':>9} |")
    print(f"|{'-' * 18}|{'-' * 10}|{'-' * 10}|{'-' * 11}|")
    for level in levels:
        rate = delivered_per_second(args.events, level, args.database_url)
        elapsed = args.events / rate
        print(f"| {level:>16} | {args.events:>8} | {elapsed:>8.2f} | {rate:>9.0f} |")

    print(yardstick.report())


if __name__ == "__main__":
    main()
