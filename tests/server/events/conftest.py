"""Event bus fixtures: fast retry settings, a local webhook receiver, a dispatcher to drive."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from mlgov import Client
from mlgov.server.events.dispatcher import Dispatcher
from mlgov.settings import (
    AuditSettings,
    DatabaseSettings,
    EventsSettings,
    ServerSettings,
    Settings,
)

FAST_EVENTS = EventsSettings(
    dispatch_interval_seconds=0.02,
    retry_base_seconds=0.01,
    retry_max_seconds=0.05,
    lease_seconds=1.0,
    webhook_timeout_seconds=2.0,
    batch_size=50,
)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database=DatabaseSettings(url=database_url, pool_size=4),
        server=ServerSettings(max_body_bytes=64 * 1024),
        audit=AuditSettings(digest_period_seconds=3600),
        events=FAST_EVENTS,
    )


@dataclass
class Received:
    event_id: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def signed_by(self, secret: str) -> bool:
        timestamp = self.headers["x-mlgov-timestamp"]
        expected = hmac.new(
            secret.encode(), timestamp.encode() + b"." + self.body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(self.headers["x-mlgov-signature"], f"sha256={expected}")


@dataclass
class Receiver:
    """A webhook endpoint on loopback; ``status`` decides the answer, ``hold`` stalls it."""

    url: str
    status: int = 200
    received: list[Received] = field(default_factory=list)
    hold: threading.Event | None = None
    arrived: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ids(self) -> list[str]:
        with self.lock:
            return [r.event_id for r in self.received]

    def accepted_ids(self) -> set[str]:
        """What a receiver that de-duplicates by event id keeps."""
        with self.lock:
            return {r.event_id for r in self.received if r.headers.get("x-answer") == "200"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status = state.status
            headers["x-answer"] = str(status)
            with state.lock:
                state.received.append(Received(headers.get("x-mlgov-event-id", ""), headers, body))
            state.arrived.set()
            if state.hold is not None:
                state.hold.wait(10)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    if state.hold is not None:
        state.hold.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def dispatcher(app: FastAPI) -> Iterator[Dispatcher]:
    engine = Dispatcher(app.state.runtime)
    yield engine
    engine.close()


def drain(dispatcher: Dispatcher, until: Callable[[], bool], timeout: float = 20.0) -> None:
    """Run dispatcher passes until ``until()`` holds; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError("the dispatcher did not get there in time")
        if not dispatcher.run_once():
            time.sleep(0.01)


@pytest.fixture
def team(admin: Client) -> Client:
    admin.identity.create_account("team-a", "dev")
    admin.identity.create_account("team-b", "dev")
    return admin
