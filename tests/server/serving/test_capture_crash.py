"""A real server killed with SIGKILL loses at most the last flush interval of captures; SIGTERM
loses none. Every capture file on disk is whole."""

from __future__ import annotations

import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sklearn.dummy import DummyRegressor

from mlgov import Client
from mlgov.settings import Settings

FLUSH_SECONDS = 0.2
MODEL = DummyRegressor(strategy="constant", constant=1.0).fit([[0.0]], [1.0])


def _server(settings: Settings, tmp_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "MLGOV_HOME": str(settings.home),
        "MLGOV_DATABASE__URL": settings.database_url,
        "MLGOV_SERVING__CAPTURE_FLUSH_SECONDS": str(FLUSH_SECONDS),
        "MLGOV_SERVER__RUN_WORKERS": "false",
    }
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115  # closed with the process
    mlgov = Path(sys.executable).with_name("mlgov")
    process = subprocess.Popen(
        [str(mlgov), "server", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise AssertionError((tmp_path / "server.log").read_text())


def _captured(settings: Settings) -> list[str]:
    ids = []
    for path in sorted((settings.home / "blobs" / "capture").rglob("*.jsonl")):
        for line in path.read_text().splitlines():
            ids.append(json.loads(line)["eventMetadata"]["inferenceId"])  # whole lines only
    return ids


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM])
def test_capture_survives_the_server_process(
    admin: Client, admin_token: str, settings: Settings, tmp_path: Path, stop: signal.Signals
) -> None:
    admin.identity.create_account("fraud-dev", "dev")
    admin.registry.create_group("fraud-dev", "m")
    admin.registry.create_version("fraud-dev", "m", flavor="sklearn", artifact=pickle.dumps(MODEL))
    admin.serving.create_endpoint(
        "fraud-dev", "e", [{"group": "m", "version": 1}], capture={"enabled": True}
    )
    process, url = _server(settings, tmp_path)
    try:
        with Client(url, api_key=admin_token) as remote:
            for i in range(30):
                remote.serving.invoke("fraud-dev", "e", [[0.0]], inference_id=f"early-{i}")
            time.sleep(FLUSH_SECONDS * 5)  # well past a flush
            for i in range(5):
                remote.serving.invoke("fraud-dev", "e", [[0.0]], inference_id=f"late-{i}")
        os.kill(process.pid, stop)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    captured = _captured(settings)
    assert captured[:30] == [f"early-{i}" for i in range(30)]  # older than the window: kept
    late = [c for c in captured if c.startswith("late-")]
    if stop == signal.SIGTERM:
        assert late == [f"late-{i}" for i in range(5)]  # a graceful stop flushes everything
    else:
        assert late == [f"late-{i}" for i in range(len(late))]  # the window: a prefix, or none
    assert len(captured) == len(set(captured))
