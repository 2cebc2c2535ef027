"""Seals closed audit periods with signed digests, on a timer."""

from __future__ import annotations

from mlgov.server.audit import service as audit
from mlgov.server.audit.signing import load_or_create_signer
from mlgov.server.db.engine import unit_of_work
from mlgov.server.kit.runtime import Runtime
from mlgov.server.workers.loop import Loop


def seal_once(runtime: Runtime) -> int:
    """Seal every closed period; returns how many digests were written."""
    settings = runtime.settings
    signer = load_or_create_signer(settings.audit_signing_key_path)
    with unit_of_work(runtime.session_factory) as session:
        sealed = audit.seal(session, signer, settings.audit.digest_period_seconds)
    if sealed:
        audit.write_anchor(audit.anchor_path(settings), sealed[-1])
    return len(sealed)


class AuditSealer(Loop):
    name = "audit-sealer"

    def interval(self) -> float:
        return self.runtime.settings.audit.seal_interval_seconds

    def tick(self) -> bool:
        # A failed seal is retried next tick; the records stay chained meanwhile.
        seal_once(self.runtime)
        return False
