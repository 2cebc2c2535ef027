"""What the app shares between requests: settings, engine, sessions, blob store."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mlgov.server.kit.blobs import BlobStore
from mlgov.server.kit.telemetry import PlatformTelemetry
from mlgov.settings import Settings

if TYPE_CHECKING:
    from mlgov.server.capture.writer import CaptureWriter
    from mlgov.server.serving.metrics import EndpointMetrics
    from mlgov.server.serving.models import ModelCache


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    blobs: BlobStore
    telemetry: PlatformTelemetry = field(default_factory=PlatformTelemetry)
    _gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = field(
        default_factory=weakref.WeakKeyDictionary
    )

    # Serving state is made on first use: most processes (CLI, workers) never serve a model.
    @cached_property
    def models(self) -> ModelCache:
        from mlgov.server.serving.models import ModelCache

        serving = self.settings.serving
        return ModelCache(self.blobs, self.settings.home / "model-cache", serving.model_cache_size)

    @cached_property
    def capture(self) -> CaptureWriter:
        from mlgov.server.capture.writer import CaptureWriter

        serving = self.settings.serving
        writer = CaptureWriter(
            self.settings.blob_url,
            flush_seconds=serving.capture_flush_seconds,
            max_pending=serving.capture_max_pending,
        )
        writer.start()
        return writer

    @cached_property
    def endpoint_metrics(self) -> EndpointMetrics:
        from mlgov.server.serving.metrics import EndpointMetrics

        return EndpointMetrics()

    def close(self) -> None:
        """Flush what must not be lost (captures), then let go of the database."""
        if "capture" in self.__dict__:
            self.capture.close()
        self.engine.dispose()

    @property
    def serializes_writes(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextlib.asynccontextmanager
    async def call_gate(self) -> AsyncIterator[None]:
        """Admit one call of this process at a time on SQLite, where every call writes and
        writers take turns (``db.engine.WriteTurns``, also between processes).

        Queueing here, on the event loop, holds no thread or pooled connection while waiting.
        PostgreSQL calls run concurrently.
        """
        if not self.serializes_writes:
            yield
            return
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Lock()
        async with gate:
            yield
