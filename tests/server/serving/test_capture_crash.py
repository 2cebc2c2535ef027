"""A real server killed with SIGKILL loses at most the last flush interval of captures; SIGTERM
loses none. Every capture file on disk is whole."""

from __future__ import annotations

import json
import os
import pickle
import signal
import time
from pathlib import Path

import pytest
from sklearn.dummy import DummyRegressor

from mlgov import Client
from mlgov.settings import Settings
from tests.server.serving.conftest import start, stop

FLUSH_SECONDS = 0.2
MODEL = DummyRegressor(strategy="constant", constant=1.0).fit([[0.0]], [1.0])


def _captured(settings: Settings) -> list[str]:
    ids = []
    for path in sorted((settings.home / "blobs" / "capture").rglob("*.jsonl")):
        for line in path.read_text().splitlines():
            ids.append(json.loads(line)["eventMetadata"]["inferenceId"])  # whole lines only
    return ids


@pytest.mark.parametrize("signal_to_send", [signal.SIGKILL, signal.SIGTERM])
def test_capture_survives_the_server_process(
    admin: Client,
    admin_token: str,
    settings: Settings,
    tmp_path: Path,
    signal_to_send: signal.Signals,
) -> None:
    admin.identity.create_account("fraud-dev", "dev")
    admin.registry.create_group("fraud-dev", "m")
    admin.registry.create_version("fraud-dev", "m", flavor="sklearn", artifact=pickle.dumps(MODEL))
    admin.serving.create_endpoint(
        "fraud-dev", "e", [{"group": "m", "version": 1}], capture={"enabled": True}
    )
    process, url = start(
        ["server"], settings, tmp_path, {"MLGOV_SERVING__CAPTURE_FLUSH_SECONDS": str(FLUSH_SECONDS)}
    )
    try:
        with Client(url, api_key=admin_token) as remote:
            for i in range(30):
                remote.serving.invoke("fraud-dev", "e", [[0.0]], inference_id=f"early-{i}")
            time.sleep(FLUSH_SECONDS * 5)  # well past a flush
            for i in range(5):
                remote.serving.invoke("fraud-dev", "e", [[0.0]], inference_id=f"late-{i}")
        os.kill(process.pid, signal_to_send)
        process.wait(30)
    finally:
        stop(process)
    captured = _captured(settings)
    assert captured[:30] == [f"early-{i}" for i in range(30)]  # older than the window: kept
    late = [c for c in captured if c.startswith("late-")]
    if signal_to_send == signal.SIGTERM:
        assert late == [f"late-{i}" for i in range(5)]  # a graceful stop flushes everything
    else:
        assert late == [f"late-{i}" for i in range(len(late))]  # the window: a prefix, or none
    assert len(captured) == len(set(captured))
