"""A worker killed (SIGKILL) mid-delivery loses nothing: the delivery comes back after its lease."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import select

from mlgov import Client
from mlgov.server.events.dispatcher import Dispatcher
from mlgov.server.events.tables import EventDelivery
from mlgov.settings import Settings
from tests.server.events.conftest import Receiver, drain


def _worker(settings: Settings, tmp_path: Path) -> subprocess.Popen[bytes]:
    """A real ``mlgov worker`` process on the same database."""
    env = {
        **os.environ,
        "MLGOV_HOME": str(settings.home),
        "MLGOV_DATABASE__URL": settings.database_url,
        "MLGOV_EVENTS__LEASE_SECONDS": "1",
        "MLGOV_EVENTS__DISPATCH_INTERVAL_SECONDS": "0.05",
        "MLGOV_EVENTS__WEBHOOK_TIMEOUT_SECONDS": "30",
    }
    mlgov = Path(sys.executable).with_name("mlgov")
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115  # closed with the process
    return subprocess.Popen([str(mlgov), "worker"], env=env, stdout=log, stderr=log)


def test_kill_9_mid_delivery_leads_to_redelivery_not_loss(
    app: FastAPI,
    team: Client,
    receiver: Receiver,
    dispatcher: Dispatcher,
    settings: Settings,
    tmp_path: Path,
) -> None:
    team.events.put_rule("team-a", "r", {"source": ["com.example.app"]})
    team.events.put_targets(
        "team-a", "r", [{"id": "hook", "type": "webhook", "config": {"url": receiver.url}}]
    )
    receiver.hold = threading.Event()  # the first request hangs: the worker is mid-send
    event_id = team.events.put_event("team-a", "com.example.app", "Tick", {"n": 1})

    worker = _worker(settings, tmp_path)
    try:
        assert receiver.arrived.wait(30), (tmp_path / "worker.log").read_text()
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    assert worker.returncode == -signal.SIGKILL
    receiver.hold.set()
    receiver.hold = None

    # The killed worker had committed its claim; after the lease another worker takes over.
    started = time.monotonic()
    drain(dispatcher, lambda: len(receiver.ids()) == 2 and _status(app) == "SUCCEEDED")
    assert time.monotonic() - started < 15
    assert receiver.ids() == [event_id, event_id]  # delivered twice, lost never
    assert receiver.accepted_ids() == {event_id}  # once after de-duplication by event id
    with app.state.runtime.session_factory() as session:
        (delivery,) = session.execute(select(EventDelivery)).scalars()
    assert delivery.attempts == 2


def _status(app: FastAPI) -> str:
    with app.state.runtime.session_factory() as session:
        (delivery,) = session.execute(select(EventDelivery)).scalars()
        return delivery.status
