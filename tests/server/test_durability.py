"""Concurrency and crash safety of the audit trail, against real connections and processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mlgov.server.audit import service as audit
from mlgov.server.audit.signing import load_or_create_signer
from mlgov.server.db.engine import build_engine, session_factory, unit_of_work
from mlgov.server.identity import service as identity
from mlgov.settings import Settings


def test_concurrent_calls_keep_the_chain_whole(app: FastAPI, admin_token: str) -> None:
    headers = {"authorization": f"Bearer {admin_token}"}

    def burst(worker: int) -> list[int]:
        http = TestClient(app, raise_server_exceptions=False)
        return [
            http.post(
                "/api/v1/org-units", json={"name": f"w{worker}-{n}"}, headers=headers
            ).status_code
            for n in range(5)
        ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [s for result in pool.map(burst, range(8)) for s in result]
    assert statuses == [201] * 40
    signer = load_or_create_signer(app.state.runtime.settings.audit_signing_key_path)
    with app.state.runtime.session_factory() as session:
        report = audit.verify(session, signer.public_key)
    assert report.valid, report.problems
    assert report.records_checked == 40 and (report.first_sequence, report.last_sequence) == (1, 40)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_acknowledged_calls_survive_kill_9(settings: Settings, tmp_path: Path) -> None:
    engine = build_engine(settings.database_url)
    with unit_of_work(session_factory(engine)) as session:
        token = identity.bootstrap(session, "acme").token
    port = _free_port()
    env = {
        **os.environ,
        "MLGOV_HOME": str(settings.home),
        "MLGOV_DATABASE__URL": settings.database_url,
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "mlgov.server.app:create_app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    acknowledged: list[str] = []
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        with httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}) as http:
            for n in range(30):
                response = http.post("/api/v1/org-units", json={"name": f"ou-{n}"})
                assert response.status_code == 201
                acknowledged.append(response.headers["x-request-id"])
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)

    signer = load_or_create_signer(settings.audit_signing_key_path)
    with session_factory(engine)() as session:
        report = audit.verify(session, signer.public_key)
        request_ids = {
            e.request_id
            for e in audit.list_records(session, audit.RecordFilter(), None, 1000, None)
        }
    engine.dispose()
    assert report.valid, report.problems
    assert set(acknowledged) <= request_ids
