"""Claims pending training jobs and runs up to ``training.max_concurrent_jobs`` at once."""

from __future__ import annotations

import threading

from mlgov.server.kit.runtime import Runtime
from mlgov.server.training.runner import KILL_GRACE_SECONDS, claim_one, execute
from mlgov.server.workers.loop import Loop


class TrainingJobRunner(Loop):
    name = "training-runner"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self._active: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def interval(self) -> float:
        return self.runtime.settings.training.poll_interval_seconds

    def tick(self) -> bool:
        # Each job runs in a thread of its own (its subprocess does the work) so that several
        # train at once; the database being briefly away only delays the next claim.
        limit = self.runtime.settings.training.max_concurrent_jobs
        while not self._stop.is_set():
            with self._lock:
                self._active = {t for t in self._active if t.is_alive()}
                if len(self._active) >= limit:
                    return False
            job = claim_one(self.runtime)
            if job is None:
                return False
            thread = threading.Thread(
                target=execute,
                args=(self.runtime, job, self._stop),
                name=f"training-{job.name}",
                daemon=True,
            )
            with self._lock:
                self._active.add(thread)
            thread.start()
        return False

    def close(self) -> None:
        with self._lock:
            active = list(self._active)
        for thread in active:
            thread.join(timeout=KILL_GRACE_SECONDS + 10)
