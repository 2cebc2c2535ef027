"""What the app shares between requests: settings, engine, sessions, blob store."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mlgov.server.kit.blobs import BlobStore
from mlgov.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    blobs: BlobStore
    _gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = field(
        default_factory=weakref.WeakKeyDictionary
    )

    @property
    def serializes_writes(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextlib.asynccontextmanager
    async def call_gate(self) -> AsyncIterator[None]:
        """Admit one call at a time on SQLite, where every call writes and writers serialize.

        Queueing here, on the event loop, hands the write lock over at once and holds no thread
        or pooled connection while waiting; SQLite's own busy handler would back off in sleeps
        of up to 100 ms and starve callers under load. PostgreSQL calls run concurrently.
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
