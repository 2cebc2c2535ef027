"""Evaluates every alarm at each minute boundary (folding the metric ingest log first), and
expires old telemetry now and then."""

from __future__ import annotations

import logging
import math
import time

from mlgov.server.alarms import service as alarms
from mlgov.server.db.base import utc_now
from mlgov.server.db.engine import unit_of_work
from mlgov.server.kit.runtime import Runtime
from mlgov.server.metrics import service as metrics
from mlgov.server.workers.loop import Loop

logger = logging.getLogger("mlgov.workers.alarm_evaluator")
LOGGED_TRANSITIONS = 10


def evaluate_once(runtime: Runtime) -> alarms.EvaluationReport:
    # The ingest log is folded every round, alarms or not, so no batch waits on a reader for
    # long; in a transaction of its own, which the round's own fold then finds (nearly) done.
    with unit_of_work(runtime.session_factory) as session:
        metrics.fold_pending(session)
    with unit_of_work(runtime.session_factory) as session:
        return alarms.evaluate_all(session, utc_now())


def expire_once(runtime: Runtime) -> int:
    with unit_of_work(runtime.session_factory) as session:
        removed = metrics.expire(session)
        alarms.expire_history(session)
    return removed


class AlarmEvaluator(Loop):
    name = "alarm-evaluator"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self._next_expiry = time.time()

    def interval(self) -> float:
        return self.runtime.settings.telemetry.alarm_evaluation_seconds

    def delay(self) -> float:
        # Sleep to the next boundary of the interval (a whole minute by default), so periods
        # close before they are evaluated and every server evaluates at the same instants.
        interval = self.interval()
        self._scheduled = math.floor(time.time() / interval + 1) * interval
        return max(0.0, self._scheduled - time.time())

    def tick(self) -> bool:
        # A failed round is retried at the next boundary; states stay as they were.
        report = evaluate_once(self.runtime)
        if report.transitions:
            # The first few name the story; every one is in the alarm history and on the bus.
            shown = report.transitions[:LOGGED_TRANSITIONS]
            more = len(report.transitions) - len(shown)
            logger.info(
                "%d alarm transitions: %s%s",
                len(report.transitions),
                shown,
                f" and {more} more" if more else "",
            )
        if time.time() >= self._next_expiry:
            self._next_expiry = (
                time.time() + self.runtime.settings.telemetry.retention_interval_seconds
            )
            try:
                expire_once(self.runtime)
            except Exception:
                logger.exception("expiring metrics and alarm history failed")
        return False
