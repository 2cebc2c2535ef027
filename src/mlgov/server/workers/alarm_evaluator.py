"""Evaluates every alarm at each minute boundary, and expires old telemetry now and then."""

from __future__ import annotations

import logging
import math
import threading
import time

from mlgov.server.alarms import service as alarms
from mlgov.server.db.base import utc_now
from mlgov.server.db.engine import unit_of_work
from mlgov.server.kit.runtime import Runtime
from mlgov.server.metrics import service as metrics

logger = logging.getLogger("mlgov.workers.alarm_evaluator")


def evaluate_once(runtime: Runtime) -> alarms.EvaluationReport:
    with unit_of_work(runtime.session_factory) as session:
        return alarms.evaluate_all(session, utc_now())


def expire_once(runtime: Runtime) -> int:
    with unit_of_work(runtime.session_factory) as session:
        removed = metrics.expire(session)
        alarms.expire_history(session)
    return removed


class AlarmEvaluator:
    name = "alarm-evaluator"

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
        settings = self.runtime.settings.telemetry
        interval = settings.alarm_evaluation_seconds
        next_expiry = time.time()
        while True:
            # Sleep to the next boundary of the interval (a whole minute by default), so periods
            # close before they are evaluated and every server evaluates at the same instants.
            boundary = math.floor(time.time() / interval + 1) * interval
            if self._stop.wait(max(0.0, boundary - time.time())):
                return
            started = time.time()
            try:
                report = evaluate_once(self.runtime)
                if report.transitions:
                    logger.info("alarm transitions: %s", report.transitions)
            except Exception:
                # A failed round is retried at the next boundary; states stay as they were.
                logger.exception("evaluating alarms failed")
            self.runtime.telemetry.record_run(
                self.name, scheduled=boundary, started=started, finished=time.time()
            )
            if started >= next_expiry:
                next_expiry = started + settings.retention_interval_seconds
                try:
                    expire_once(self.runtime)
                except Exception:
                    logger.exception("expiring metrics and alarm history failed")
