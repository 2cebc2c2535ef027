"""A real `mlgov` server in a temporary MLGOV_HOME, bootstrapped, for the benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


def peak_rss_mb(pid: int | str = "self") -> float:
    """The process's high-water resident set (VmHWM), from /proc: Linux only."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Server:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    home: Path
    store: str


def _bootstrap(env: dict[str, str]) -> str:
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


@contextmanager
def running_server(database_url: str | None = None, processes: int = 1) -> Iterator[Server]:
    """`mlgov server` on embedded defaults (or ``database_url``) with a `bench` account, serving
    from ``processes`` API processes."""
    home = Path(tempfile.mkdtemp(prefix="mlgov-bench-"))
    env = {"MLGOV_HOME": str(home)}
    if database_url:
        env["MLGOV_DATABASE__URL"] = database_url
    token = _bootstrap(env)
    port = free_port()
    process = subprocess.Popen(
        # As users run it: `mlgov server` (which also freezes its start-up heap).
        [
            str(Path(sys.executable).with_name("mlgov")), "server",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
            "--processes", str(processes),
        ],
        env={**os.environ, **env},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit("the benchmark server did not become ready")
        store = "PostgreSQL" if database_url else "SQLite (embedded default)"
        yield Server(url, token, process, home, store)
    finally:
        process.terminate()
        process.wait(timeout=15)
