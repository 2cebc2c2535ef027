"""``mlgov server`` (the API, by default with its workers) and ``mlgov worker`` (workers alone).

``--processes N`` serves the API from N processes on one port, for a machine's cores.
At scale run several ``mlgov server`` replicas with ``MLGOV_SERVER__RUN_WORKERS=false`` and the
background loops in separate ``mlgov worker`` processes.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlgov.cli._admin import database_errors, load_settings, safe_url
from mlgov.cli._output import notice

if TYPE_CHECKING:
    from mlgov.settings import Settings


def server(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on; default MLGOV_SERVER__HOST.")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port to listen on; default MLGOV_SERVER__PORT."),
    ] = None,
    workers: Annotated[
        bool | None,
        typer.Option(
            "--workers/--no-workers",
            help="Run the background workers in this process; default MLGOV_SERVER__RUN_WORKERS.",
        ),
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="API processes sharing the port, about one per core; default "
            "MLGOV_SERVER__PROCESSES.",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the API server. Refuses to start on an out-of-date schema (run `mlgov db upgrade`)."""
    import uvicorn

    from mlgov.server.app import create_app, freeze_startup_heap

    settings = load_settings()
    level = log_level.lower()
    listen = {
        "host": host or settings.server.host,
        "port": port or settings.server.port,
        "log_level": level,
        # Above info the access log shows nothing, but uvicorn still formats each line's client
        # and path before the logger drops it (about 1 % of a registration's CPU).
        "access_log": level in ("trace", "debug", "info"),
    }
    count = processes or settings.server.processes
    if count > 1:
        _serve_replicas(settings, count, workers, listen)
        return
    # create_app raises SchemaOutOfDate before anything listens; the root handler prints it.
    with database_errors(settings):
        application = create_app(settings, run_workers=workers)
    freeze_startup_heap()
    uvicorn.run(application, **listen)  # type: ignore[arg-type]


def _serve_replicas(
    settings: Settings, count: int, workers: bool | None, listen: dict[str, Any]
) -> None:
    """``count`` API processes on one port (uvicorn's supervisor spawns and watches them); this
    process runs the background workers and SQLite's checkpoints once for all of them."""
    import uvicorn

    from mlgov.server.app import build_runtime
    from mlgov.server.db import schema
    from mlgov.server.workers import build_workers, storage_workers

    runtime = build_runtime(settings)
    started = []
    try:
        with database_errors(settings):
            schema.ensure_current(runtime.engine)
        run_workers = settings.server.run_workers if workers is None else workers
        for each in build_workers(runtime) if run_workers else storage_workers(runtime):
            each.start()
            started.append(each)
        # The replicas read their settings from the environment they inherit: they must know
        # they are several (kit.routing prepares a call's body in its turn then).
        os.environ["MLGOV_SERVER__PROCESSES"] = str(count)
        uvicorn.run("mlgov.server.app:replica_app", factory=True, workers=count, **listen)
    finally:
        for each in reversed(started):
            each.stop()
        runtime.close()


def worker() -> None:
    """Run the background workers alone until SIGINT or SIGTERM."""
    from mlgov.server.app import build_runtime, freeze_startup_heap
    from mlgov.server.db import schema
    from mlgov.server.workers import build_workers

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = load_settings()
    runtime = build_runtime(settings)
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        notice(f"received {signal.Signals(signum).name}; stopping")
        stop.set()

    # Handlers go in before any worker starts, so a signal can never hit the default handler and
    # kill the process halfway through a worker's transaction.
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    started = []
    try:
        # The same refusal as the server: workers on an old schema would corrupt data.
        with database_errors(settings):
            schema.ensure_current(runtime.engine)
        freeze_startup_heap()
        for each in build_workers(runtime):
            each.start()
            started.append(each)
        names = ", ".join(w.name for w in started) or "none"
        notice(f"mlgov worker on {safe_url(settings.database_url)}: running {names}")
        # A timed wait so the main thread regularly returns to run the signal handler.
        while not stop.wait(0.5):
            pass
    finally:
        for each in reversed(started):
            each.stop()
        runtime.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    notice("mlgov worker stopped")
