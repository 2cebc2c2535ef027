"""The alarm worker's log line stays one short line however many alarms change state."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI

from mlgov.server.alarms.service import EvaluationReport
from mlgov.server.workers import alarm_evaluator


def test_a_large_round_is_logged_as_a_count_and_the_first_few(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    report = EvaluationReport()
    report.transitions.extend((f"arn-{n}", "INSUFFICIENT_DATA", "OK") for n in range(25))
    monkeypatch.setattr(alarm_evaluator, "evaluate_once", lambda _runtime: report)
    worker = alarm_evaluator.AlarmEvaluator(app.state.runtime)
    with caplog.at_level(logging.INFO, logger="mlgov.workers.alarm_evaluator"):
        worker.tick()
    [line] = [r.getMessage() for r in caplog.records if "alarm transitions" in r.getMessage()]
    assert line.startswith("25 alarm transitions: ") and line.endswith(" and 15 more")
    assert "arn-9" in line and "arn-10" not in line
