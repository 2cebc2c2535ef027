"""Runs queued batch transform jobs, one at a time per worker."""

from __future__ import annotations

from mlgov.server.batch.service import run_pending
from mlgov.server.workers.loop import Loop


class TransformRunner(Loop):
    name = "transform-runner"

    def interval(self) -> float:
        return 1.0

    def tick(self) -> bool:
        # Claims commit before running: a job this loop could not finish is claimed again after
        # its lease.
        run_pending(self.runtime)
        return False
