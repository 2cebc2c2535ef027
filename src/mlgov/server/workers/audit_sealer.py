"""Seals closed audit periods with signed digests, on a timer."""

from __future__ import annotations

import logging
import threading

from mlgov.server.audit import service as audit
from mlgov.server.audit.signing import load_or_create_signer
from mlgov.server.db.engine import unit_of_work
from mlgov.server.kit.runtime import Runtime

logger = logging.getLogger("mlgov.workers.audit_sealer")


def seal_once(runtime: Runtime) -> int:
    """Seal every closed period; returns how many digests were written."""
    settings = runtime.settings
    signer = load_or_create_signer(settings.audit_signing_key_path)
    with unit_of_work(runtime.session_factory) as session:
        sealed = audit.seal(session, signer, settings.audit.digest_period_seconds)
    if sealed:
        audit.write_anchor(audit.anchor_path(settings), sealed[-1])
    return len(sealed)


class AuditSealer:
    name = "audit-sealer"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        interval = self.runtime.settings.audit.seal_interval_seconds
        while not self._stop.wait(interval):
            try:
                seal_once(self.runtime)
            except Exception:
                # A failed seal is retried next tick; the records stay chained meanwhile.
                logger.exception("sealing audit digests failed")
