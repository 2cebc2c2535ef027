"""What the app shares between requests: settings, engine, sessions, blob store."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mlgov.server.kit.blobs import BlobStore
from mlgov.server.kit.gate import CallGate, lock_file_of
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
        if "call_gate" in self.__dict__:
            self.call_gate.close()
        self.engine.dispose()

    @property
    def serializes_writes(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @cached_property
    def call_gate(self) -> CallGate:
        """What admits one call at a time on SQLite (see :mod:`mlgov.server.kit.gate`); on
        PostgreSQL calls run concurrently and it admits every call at once."""
        if not self.serializes_writes:
            return CallGate(None, serial=False)
        return CallGate(lock_file_of(self.engine.url.database))
