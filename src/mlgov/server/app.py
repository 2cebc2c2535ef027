"""The FastAPI application factory. Nothing is built at import time."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from mlgov import __version__
from mlgov.server.api import API_PREFIX, install_api
from mlgov.server.db import schema
from mlgov.server.db.engine import engine_from_settings, session_factory
from mlgov.server.kit.blobs import BlobStore
from mlgov.server.kit.errors import error_body, install_handlers
from mlgov.server.kit.runtime import Runtime
from mlgov.server.kit.telemetry import RequestMetricsMiddleware
from mlgov.server.metrics import prometheus
from mlgov.server.serving.process import SingleEndpointMiddleware, warm_endpoint
from mlgov.server.workers import Worker, build_workers, storage_workers
from mlgov.server.workers.endpoint_metrics import EndpointMetricsShipper
from mlgov.settings import Settings

YOUNG_COLLECTION_ALLOCATIONS = 50_000


def freeze_startup_heap() -> None:
    """Move every object alive now (modules, routes, ORM mappings) out of the collector's sight,
    and let the young generation grow before it is collected.

    A server process holds a couple of hundred thousand such objects, and each full cyclic
    collection walks them all (about 130 ms here), triggered every few hundred requests by the
    short-lived containers of request bodies. They live for the whole process, so the collector
    never needs to see them again. What is left for it is per-call garbage, mostly acyclic, which
    reference counting frees: at CPython's default of a collection every 700 allocations, a
    10,000-alarm evaluation round ran 445 young and 3 full collections (0.1 s of its 1.1 s);
    at 50,000 it runs two. Called once by the process entry points (server, worker, endpoint
    process), after the app is built; never in tests, which build many apps.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_ALLOCATIONS, 20, 20)


def replica_app() -> FastAPI:
    """One of the API processes of ``mlgov server --processes N`` (a uvicorn factory).

    The parent process runs the background workers and SQLite's checkpoints once for all; each
    replica serves the API and ships its own endpoint metrics. Settings come from the environment
    the replicas inherit.
    """
    app = create_app(run_workers=False, checkpoints=False)
    freeze_startup_heap()
    return app


def build_runtime(settings: Settings) -> Runtime:
    """For a long-running process: it runs :func:`storage_workers` (SQLite checkpoints)."""
    engine = engine_from_settings(settings, background_checkpoints=True)
    return Runtime(
        settings=settings,
        engine=engine,
        session_factory=session_factory(engine),
        blobs=BlobStore(settings.blob_url),
    )


def create_app(
    settings: Settings | None = None,
    *,
    run_workers: bool | None = None,
    serve_endpoint: tuple[str, str] | None = None,
    checkpoints: bool = True,
) -> FastAPI:
    """Build the app; refuses (SchemaOutOfDate) when the database is not at the code's schema.

    Without workers a process still ships what only it counted (its endpoints' invocation
    metrics); ``checkpoints`` False leaves SQLite's log to a parent process that runs them.

    ``serve_endpoint`` (account, name) makes a serving process for one endpoint: its models load
    before it listens, ``/invocations`` and ``/ping`` answer for it (the SageMaker container
    contract, behind the same authentication and audit), and only the endpoint-metrics worker runs.
    """
    settings = settings or Settings()
    runtime = build_runtime(settings)
    schema.ensure_current(runtime.engine)
    start_workers = settings.server.run_workers if run_workers is None else run_workers

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if serve_endpoint is not None:
            warm_endpoint(runtime, *serve_endpoint)  # before listening: no cold first calls
        workers: list[Worker]
        if start_workers and serve_endpoint is None:
            workers = build_workers(runtime)
        else:
            workers = [EndpointMetricsShipper(runtime)]
            if checkpoints:
                workers += storage_workers(runtime)
        for worker in workers:
            worker.start()
        try:
            yield
        finally:
            for worker in reversed(workers):
                worker.stop()
            runtime.close()

    app = FastAPI(
        title="mlgov",
        version=__version__,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    if serve_endpoint is not None:
        account, name = serve_endpoint
        app.add_middleware(
            SingleEndpointMiddleware,
            invocations_path=f"{API_PREFIX}/accounts/{account}/endpoints/{name}/invocations",
        )
    install_handlers(app)
    install_api(app)
    app.include_router(prometheus.build_router(runtime))
    app.add_middleware(RequestMetricsMiddleware, telemetry=runtime.telemetry)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz(request: Request) -> JSONResponse:
        try:
            with runtime.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            schema.ensure_current(runtime.engine)
        except Exception as exc:
            return JSONResponse(error_body("NOT_READY", str(exc)), status_code=503)
        return JSONResponse({"status": "ready"})

    return app
