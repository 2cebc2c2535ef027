"""Monitors on endpoints: baselines, schedules, run-now, event targets, executions end to end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI

from mlgov import Client, Conflict, InvalidRequest, NotFound
from mlgov.server.events.dispatcher import Dispatcher
from mlgov.server.monitoring import schedules, storage, triggers
from tests.server.monitoring.helpers import (
    ACCOUNT,
    csv_bytes,
    deploy,
    monitoring_events,
    run_pending,
)


def _invoke(admin: Client, rows: np.ndarray, ids: list[str] | None = None) -> None:
    for i, row in enumerate(rows):
        admin.serving.invoke(
            ACCOUNT,
            "ep",
            body=",".join(f"{v:.6f}" for v in row),
            content_type="text/csv",
            accept="text/csv",
            inference_id=ids[i] if ids else None,
        )


def test_drifted_traffic_completes_with_violations(app: FastAPI, admin: Client) -> None:
    deploy(admin)
    rng = np.random.default_rng(7)
    baseline = {
        "prediction": np.full(400, 0.5),
        "f0": rng.normal(0, 1, 400),
        "f1": rng.uniform(0, 1, 400),
    }
    admin.monitoring.upload_dataset(ACCOUNT, "train.csv", csv_bytes(baseline))
    created = admin.monitoring.create_baseline(ACCOUNT, "bl", dataset="train.csv")
    assert created["files"] == ["constraints.json", "statistics.json"]
    assert created["summary"]["features"] == ["prediction", "f0", "f1"]
    admin.monitoring.create_monitor(
        ACCOUNT, "dq", "ep", baseline="bl", schedule="cron(0 * ? * * *)"
    )
    drifted = np.column_stack([rng.normal(3, 1, 60), rng.uniform(0, 1, 60)])
    _invoke(admin, drifted)

    now = datetime.now(UTC)
    started = admin.monitoring.start_execution(
        ACCOUNT, "dq", start=now - timedelta(hours=1), end=now + timedelta(minutes=1)
    )
    assert started["status"] == "Pending" and started["trigger"] == "manual"
    assert run_pending(app, now) == {started["id"]: "CompletedWithViolations"}

    execution = admin.monitoring.get_execution(ACCOUNT, "dq", started["id"])
    assert execution["status"] == "CompletedWithViolations"
    assert execution["reports"] == ["constraint_violations.json", "statistics.json"]
    violations = admin.monitoring.download_report(
        ACCOUNT, "dq", started["id"], "constraint_violations.json"
    )["violations"]
    drifted_features = {
        v["feature_name"]
        for v in violations
        if v["constraint_check_type"] == "baseline_drift_check"
    }
    assert "f0" in drifted_features and "prediction" not in drifted_features
    assert execution["violation_count"] == len(violations)
    statistics = admin.monitoring.download_report(ACCOUNT, "dq", started["id"], "statistics.json")
    assert statistics["dataset"]["item_count"] == 60

    names = {
        m["metric_name"]
        for m in admin.metrics.list(
            ACCOUNT, namespace="mlgov/Monitoring", dimensions=["MonitorName=dq"]
        )
    }
    assert {"feature_baseline_drift_f0", "feature_baseline_drift_f1", "violation_count"} <= names
    (event,) = monitoring_events(app)
    assert event["detail-type"] == "Monitoring Execution Status Change"
    assert event["detail"]["ExecutionStatus"] == "CompletedWithViolations"
    assert event["detail"]["EndpointName"] == "ep"

    # The closed hour compacted to Parquet reads the same.
    runtime = app.state.runtime
    account_id = admin.identity.get_account(ACCOUNT)["id"]
    hour = now.replace(minute=0, second=0, microsecond=0)
    assert storage.compact_hour(runtime.blobs, account_id, "ep", hour) == 60
    files = storage.capture_files(runtime.blobs, account_id, "ep", hour, now)
    assert len(files) == 1 and files[0].endswith(".parquet")
    again = admin.monitoring.start_execution(
        ACCOUNT, "dq", start=hour, end=now + timedelta(minutes=1)
    )
    assert run_pending(app, now) == {again["id"]: "CompletedWithViolations"}
    assert (
        admin.monitoring.download_report(ACCOUNT, "dq", again["id"], "statistics.json")["dataset"][
            "item_count"
        ]
        == 60
    )


def test_model_quality_with_ground_truth_violates_threshold(app: FastAPI, admin: Client) -> None:
    deploy(admin, constant=0.9)  # always predicts the positive class
    labels = np.array([1] * 90 + [0] * 10)
    admin.monitoring.upload_dataset(
        ACCOUNT,
        "validation.csv",
        csv_bytes({"probability": np.full(100, 0.9), "label": labels}),
    )
    baseline = admin.monitoring.create_baseline(
        ACCOUNT,
        "mq",
        type="model_quality",
        dataset="validation.csv",
        model_quality={
            "problem_type": "BinaryClassification",
            "probability_attribute": "probability",
        },
    )
    assert baseline["summary"]["thresholds"]["accuracy"] == pytest.approx(0.9)
    admin.monitoring.create_monitor(
        ACCOUNT,
        "quality",
        "ep",
        type="model_quality",
        baseline="mq",
        settings={
            "model_quality": {
                "problem_type": "BinaryClassification",
                "probability_attribute": "0",
            }
        },
    )
    ids = [f"id-{i}" for i in range(40)]
    _invoke(admin, np.ones((40, 2)), ids)
    admin.serving.put_ground_truth(ACCOUNT, "ep", {i: n % 2 for n, i in enumerate(ids)})

    now = datetime.now(UTC)
    started = admin.monitoring.start_execution(
        ACCOUNT, "quality", start=now - timedelta(hours=1), end=now + timedelta(minutes=1)
    )
    assert run_pending(app, now) == {started["id"]: "CompletedWithViolations"}
    execution = admin.monitoring.get_execution(ACCOUNT, "quality", started["id"])
    assert execution["summary"]["records"] == 40
    assert execution["summary"]["metrics"]["accuracy"] == pytest.approx(0.5)
    violated = {
        v["metric_name"]
        for v in admin.monitoring.download_report(
            ACCOUNT, "quality", started["id"], "constraint_violations.json"
        )["violations"]
    }
    assert "accuracy" in violated
    stats = admin.metrics.statistics(
        ACCOUNT,
        "mlgov/Monitoring",
        "accuracy",
        dimensions={"MonitorName": "quality", "EndpointName": "ep"},
        start_time=now - timedelta(hours=1),
        end_time=now + timedelta(hours=1),
        period=3600,
        statistics=["Average"],
    )
    assert [round(p["average"], 3) for p in stats["datapoints"]] == [0.5]


def test_schedule_fires_once_when_due_and_fails_without_traffic(
    app: FastAPI, admin: Client
) -> None:
    deploy(admin)
    admin.monitoring.import_baseline(ACCOUNT, "bl", **SAGEMAKER_BASELINE)
    monitor = admin.monitoring.create_monitor(
        ACCOUNT, "hourly", "ep", baseline="bl", schedule="rate(1 hour)"
    )
    due = datetime.fromisoformat(monitor["next_run_at"])
    assert due.minute == 0 and due > datetime.now(UTC)
    assert run_pending(app, due - timedelta(seconds=1)) == {}
    (status,) = run_pending(app, due + timedelta(hours=3)).values()  # missed runs run once
    assert status == "Failed"
    (execution,) = admin.monitoring.list_executions(ACCOUNT, "hourly")
    assert execution["trigger"] == "schedule"
    assert datetime.fromisoformat(execution["window_start"]) == due - timedelta(hours=1)
    assert "no captured data" in execution["failure_reason"]
    moved = datetime.fromisoformat(admin.monitoring.get_monitor(ACCOUNT, "hourly")["next_run_at"])
    assert moved == due + timedelta(hours=4)
    (event,) = monitoring_events(app)
    assert event["detail"]["ExecutionStatus"] == "Failed"


def test_event_target_starts_the_monitor(app: FastAPI, admin: Client) -> None:
    deploy(admin)
    admin.monitoring.import_baseline(ACCOUNT, "bl", **SAGEMAKER_BASELINE)
    admin.monitoring.create_monitor(ACCOUNT, "on-alarm", "ep", baseline="bl")
    admin.events.put_rule(ACCOUNT, "check", {"source": ["ci.pipeline"]})
    admin.events.put_targets(
        ACCOUNT,
        "check",
        [
            {
                "id": "monitor",
                "type": "internal",
                "config": {
                    "handler": triggers.HANDLER,
                    "options": {"monitor": "on-alarm", "window_minutes": 30},
                },
            }
        ],
    )
    admin.events.put_event(ACCOUNT, "ci.pipeline", "Data Refreshed", {})
    triggers.bind(app.state.runtime)
    dispatcher = Dispatcher(app.state.runtime)
    try:
        for _ in range(3):
            dispatcher.run_once()
    finally:
        dispatcher.close()
    (execution,) = admin.monitoring.list_executions(ACCOUNT, "on-alarm")
    assert execution["trigger"] == "event" and execution["status"] == "Pending"
    window = datetime.fromisoformat(execution["window_end"]) - datetime.fromisoformat(
        execution["window_start"]
    )
    assert window == timedelta(minutes=30)
    assert execution["requested_by"].startswith("event:")


def test_imported_sagemaker_baseline_is_kept_unchanged(admin: Client) -> None:
    deploy(admin)
    imported = admin.monitoring.import_baseline(ACCOUNT, "sm", **SAGEMAKER_BASELINE)
    assert imported["source"] == "import" and imported["summary"]["features"] == ["age", "job"]
    for name in ("statistics", "constraints"):
        assert (
            admin.monitoring.download_baseline_file(ACCOUNT, "sm", f"{name}.json")
            == SAGEMAKER_BASELINE[name]
        )
    admin.monitoring.create_monitor(ACCOUNT, "dq", "ep", baseline="sm")
    with pytest.raises(Conflict) as in_use:
        admin.monitoring.delete_baseline(ACCOUNT, "sm")
    assert in_use.value.code == "BASELINE_IN_USE"
    with pytest.raises(InvalidRequest) as bad:
        admin.monitoring.import_baseline(
            ACCOUNT, "broken", statistics={"features": "nope"}, constraints={}
        )
    assert bad.value.code == "INVALID_DATA"


def test_bad_input_is_4xx(admin: Client) -> None:
    deploy(admin)
    admin.monitoring.import_baseline(ACCOUNT, "bl", **SAGEMAKER_BASELINE)
    with pytest.raises(InvalidRequest) as bad_cron:
        admin.monitoring.create_monitor(ACCOUNT, "m", "ep", baseline="bl", schedule="cron(61 *)")
    assert bad_cron.value.code == "INVALID_SCHEDULE"
    with pytest.raises(NotFound) as no_endpoint:
        admin.monitoring.create_monitor(ACCOUNT, "m", "nowhere", baseline="bl")
    assert no_endpoint.value.code == "ENDPOINT_NOT_FOUND"
    with pytest.raises(InvalidRequest) as no_baseline:
        admin.monitoring.create_monitor(ACCOUNT, "m", "ep")
    assert no_baseline.value.code == "INVALID_MONITOR"
    with pytest.raises(NotFound):
        admin.monitoring.create_monitor(ACCOUNT, "m", "ep", baseline="missing")
    admin.monitoring.create_monitor(ACCOUNT, "m", "ep", baseline="bl")
    now = datetime.now(UTC)
    with pytest.raises(InvalidRequest) as backwards:
        admin.monitoring.start_execution(ACCOUNT, "m", start=now, end=now - timedelta(hours=1))
    assert backwards.value.code == "INVALID_REQUEST"
    with pytest.raises(InvalidRequest):
        admin.monitoring.create_baseline(ACCOUNT, "x", dataset="missing.csv", path="datasets/y")
    with pytest.raises(NotFound) as no_data:
        admin.monitoring.create_baseline(ACCOUNT, "x", dataset="missing.csv")
    assert no_data.value.code == "DATASET_NOT_FOUND"
    with pytest.raises(InvalidRequest):
        admin.monitoring.create_baseline(ACCOUNT, "x", path="../../etc/passwd")
    with pytest.raises(InvalidRequest):
        admin.monitoring.upload_dataset(ACCOUNT, "evil.sh", b"x")
    execution = admin.monitoring.start_execution(ACCOUNT, "m")
    assert admin.monitoring.stop_execution(ACCOUNT, "m", execution["id"])["status"] == "Stopped"
    with pytest.raises(Conflict):
        admin.monitoring.stop_execution(ACCOUNT, "m", execution["id"])


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("cron(0 * ? * * *)", "2026-03-01T10:20:00", "2026-03-01T11:00:00"),
        ("cron(0 6 ? * 2 *)", "2026-03-01T10:20:00", "2026-03-02T06:00:00"),  # AWS 2 = Monday
        ("30 2 * * *", "2026-03-01T10:20:00", "2026-03-02T02:30:00"),
        ("rate(15 minutes)", "2026-03-01T10:20:00", "2026-03-01T10:30:00"),
        ("rate(1 day)", "2026-03-01T10:20:00", "2026-03-02T00:00:00"),
    ],
)
def test_schedule_expressions(expression: str, after: str, expected: str) -> None:
    schedule = schedules.parse(expression)
    moment = datetime.fromisoformat(after).replace(tzinfo=UTC)
    assert schedule.next_after(moment) == datetime.fromisoformat(expected).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "expression",
    ["cron(61 * * * *)", "rate(0 hours)", "every hour", "cron(0 * 1 * 2 *)", "* * * * * *"],
)
def test_bad_schedules_are_refused(expression: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        schedules.parse(expression)
    assert refused.value.code == "INVALID_SCHEDULE"


def test_rate_window_is_the_time_since_the_last_firing() -> None:
    schedule = schedules.parse("rate(1 hour)")
    at = datetime(2026, 3, 1, 5, tzinfo=UTC)
    assert schedule.previous_before(at) == datetime(2026, 3, 1, 4, tzinfo=UTC)


# A baseline as SageMaker's analyzer writes it (no mlgov extensions).
SAGEMAKER_BASELINE: dict[str, Any] = {
    "statistics": {
        "version": 0.0,
        "dataset": {"item_count": 4},
        "features": [
            {
                "name": "age",
                "inferred_type": "Integral",
                "numerical_statistics": {
                    "common": {"num_present": 4, "num_missing": 0},
                    "mean": 35.0,
                    "sum": 140.0,
                    "std_dev": 5.0,
                    "min": 30.0,
                    "max": 40.0,
                    "distribution": {
                        "kll": {
                            "buckets": [
                                {"lower_bound": 30.0, "upper_bound": 35.0, "count": 2.0},
                                {"lower_bound": 35.0, "upper_bound": 40.0, "count": 2.0},
                            ],
                            "sketch": {
                                "parameters": {"c": 0.64, "k": 2048.0},
                                "data": [[30.0, 32.0, 38.0, 40.0]],
                            },
                        }
                    },
                },
            },
            {
                "name": "job",
                "inferred_type": "String",
                "string_statistics": {
                    "common": {"num_present": 4, "num_missing": 0},
                    "distinct_count": 2.0,
                    "distribution": {
                        "categorical": {
                            "buckets": [
                                {"value": "admin", "count": 2},
                                {"value": "tech", "count": 2},
                            ]
                        }
                    },
                },
            },
        ],
    },
    "constraints": {
        "version": 0.0,
        "features": [
            {
                "name": "age",
                "inferred_type": "Integral",
                "completeness": 1.0,
                "num_constraints": {"is_non_negative": True},
            },
            {
                "name": "job",
                "inferred_type": "String",
                "completeness": 1.0,
                "string_constraints": {"domains": ["admin", "tech"]},
            },
        ],
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": 1.0,
            "domain_content_threshold": 1.0,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": 0.1,
                "comparison_method": "Robust",
            },
        },
    },
}
