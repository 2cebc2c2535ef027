"""Bias and custom-metric monitors end to end, and ground truth dropped into the blob store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI

from mlgov import Client
from mlgov.server.monitoring import jobs
from tests.server.monitoring.helpers import (
    ACCOUNT,
    binary_quality_baseline,
    csv_bytes,
    deploy,
)


def _invoke(admin: Client, rows: list[str], ids: list[str]) -> None:
    for body, inference_id in zip(rows, ids, strict=True):
        admin.serving.invoke(
            ACCOUNT, "ep", body=body, content_type="text/csv", accept="text/csv",
            inference_id=inference_id,
        )  # fmt: skip


def _run_now(app: FastAPI, admin: Client, monitor: str) -> dict[str, Any]:
    runtime = app.state.runtime
    runtime.capture.flush()
    now = datetime.now(UTC)
    started = admin.monitoring.start_execution(
        ACCOUNT, monitor, start=now - timedelta(hours=1), end=now + timedelta(minutes=1)
    )
    jobs.run_pending(runtime.session_factory, runtime.blobs, now)
    execution: dict[str, Any] = admin.monitoring.get_execution(ACCOUNT, monitor, started["id"])
    return execution


def _metrics(admin: Client, monitor: str) -> dict[str, list[dict[str, str]]]:
    """Metric name -> the dimension sets it was emitted with, for one monitor."""
    found: dict[str, list[dict[str, str]]] = {}
    for metric in admin.metrics.list(
        ACCOUNT, namespace="mlgov/Monitoring", dimensions=[f"MonitorName={monitor}"]
    ):
        dimensions = {d["name"]: d["value"] for d in metric["dimensions"]}
        found.setdefault(metric["metric_name"], []).append(dimensions)
    return found


BIAS = {
    "label": "label",
    "label_values": [1],
    "facet": "gender",
    "facet_values": [1],
    "predicted_label": "prediction",
    "probability_threshold": 0.5,
    "methods": ["CI", "DPL", "KL", "DPPL", "DI"],
}


def test_bias_monitor_reports_metrics_and_bias_drift(app: FastAPI, admin: Client) -> None:
    deploy(admin, 0.9)
    # The baseline: both groups about as often positive (DPL 0.04).
    gender = np.array([0] * 100 + [1] * 100)
    label = np.array([1] * 52 + [0] * 48 + [1] * 48 + [0] * 52)
    admin.monitoring.upload_dataset(
        ACCOUNT,
        "fair.csv",
        csv_bytes(
            {"prediction": np.full(200, 0.9), "gender": gender, "x": np.arange(200), "label": label}
        ),
    )
    baseline = admin.monitoring.create_baseline(
        ACCOUNT, "fair", type="bias", dataset="fair.csv", bias=BIAS
    )
    assert baseline["files"] == ["analysis.json"]
    admin.monitoring.create_monitor(
        ACCOUNT,
        "fairness",
        "ep",
        type="bias",
        baseline="fair",
        settings={"column_names": ["prediction", "gender", "x"]},  # bias: the baseline's
    )
    # Traffic where group 1 is positive 20% of the time and group 0 80%: DPL 0.6.
    ids = [f"req-{i}" for i in range(40)]
    _invoke(admin, [f"{i % 2},{i}" for i in range(40)], ids)
    labels = {
        inference_id: int((i % 2 == 1 and i % 10 < 2) or (i % 2 == 0 and i % 10 < 8))
        for i, inference_id in enumerate(ids)
    }
    admin.serving.put_ground_truth(ACCOUNT, "ep", labels)

    execution = _run_now(app, admin, "fairness")
    assert execution["status"] == "CompletedWithViolations", execution
    assert execution["reports"] == ["analysis.json", "constraint_violations.json"]
    assert execution["summary"]["records"] == 40
    analysis = admin.monitoring.download_report(
        ACCOUNT, "fairness", execution["id"], "analysis.json"
    )
    (pre,) = analysis["pre_training_bias_metrics"]["facets"]["gender"]
    assert pre["value_or_threshold"] == "1"
    values = {m["name"]: m["value"] for m in pre["metrics"]}
    assert values["CI"] == pytest.approx(0.0)
    assert values["DPL"] == pytest.approx(0.6)
    (post,) = analysis["post_training_bias_metrics"]["facets"]["gender"]
    assert {m["name"] for m in post["metrics"]} == {"DPPL", "DI"}

    violations = admin.monitoring.download_report(
        ACCOUNT, "fairness", execution["id"], "constraint_violations.json"
    )["violations"]
    assert execution["violation_count"] == len(violations)
    drifted = {(v["facet"], v["facet_value"], v["metric_name"]) for v in violations}
    assert ("gender", "1", "DPL") in drifted
    assert all(v["constraint_check_type"] == "bias_drift_check" for v in violations)

    emitted = _metrics(admin, "fairness")
    assert {"Facet": "gender", "FacetValue": "1", "MonitorName": "fairness",
            "EndpointName": "ep"} in emitted["bias_metric_DPL"]  # fmt: skip
    assert "violation_count" in emitted
    stats = admin.metrics.statistics(
        ACCOUNT,
        "mlgov/Monitoring",
        "bias_metric_DPL",
        dimensions={
            "MonitorName": "fairness",
            "EndpointName": "ep",
            "Facet": "gender",
            "FacetValue": "1",
        },
        start_time=datetime.now(UTC) - timedelta(hours=1),
        end_time=datetime.now(UTC) + timedelta(hours=1),
        period=3600,
        statistics=["Average"],
    )
    assert [round(p["average"], 3) for p in stats["datapoints"]] == [0.6]


def test_custom_metric_monitor_runs_builtin_and_module_plugins(
    app: FastAPI, admin: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy(admin, 0.5)
    plugin = tmp_path / "route_plugins_for_monitor_test.py"
    plugin.write_text(
        "def label_mean(data, column='label'):\n"
        "    values = [float(v) for v in data.column(column).to_pylist()]\n"
        "    return {'label_mean': sum(values) / len(values), 'rows': len(values)}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = "route_plugins_for_monitor_test:label_mean"
    admin.monitoring.create_monitor(
        ACCOUNT,
        "forecast",
        "ep",
        type="custom_metric",
        settings={
            "column_names": ["prediction", "f0", "f1"],
            "custom_metrics": ["mape", spec],
            "custom_params": {"mape": {"target": "label", "forecast": "prediction"}},
            "custom_thresholds": {
                "mape": {"threshold": 0.2, "comparison_operator": "GreaterThanThreshold"},
                "rows": {"threshold": 10, "comparison_operator": "LessThanThreshold"},
            },
        },
    )
    ids = [f"f-{i}" for i in range(30)]
    _invoke(admin, ["1,2"] * 30, ids)
    admin.serving.put_ground_truth(ACCOUNT, "ep", dict.fromkeys(ids, "1.0"))  # forecast 0.5

    execution = _run_now(app, admin, "forecast")
    assert execution["status"] == "CompletedWithViolations", execution
    assert execution["reports"] == ["constraint_violations.json", "custom_metrics.json"]
    report = admin.monitoring.download_report(
        ACCOUNT, "forecast", execution["id"], "custom_metrics.json"
    )
    assert report["metrics"] == {
        "mape": pytest.approx(0.5),
        "label_mean": pytest.approx(1.0),
        "rows": 30,
    }
    assert execution["summary"]["records"] == 30
    (violation,) = admin.monitoring.download_report(
        ACCOUNT, "forecast", execution["id"], "constraint_violations.json"
    )["violations"]
    assert violation["metric_name"] == "mape"
    assert violation["constraint_check_type"] == "GreaterThanThreshold"
    assert execution["violation_count"] == 1

    emitted = _metrics(admin, "forecast")
    assert {"mape", "label_mean", "rows", "violation_count"} <= set(emitted)
    assert emitted["mape"] == [{"MonitorName": "forecast", "EndpointName": "ep"}]


def test_ground_truth_file_dropped_into_the_prefix_is_merged(app: FastAPI, admin: Client) -> None:
    """ground-truth/<account id>/<endpoint>/YYYY/MM/DD/HH/*.jsonl, as docs/serving.md says."""
    deploy(admin, 0.9)
    binary_quality_baseline(admin)
    admin.monitoring.create_monitor(
        ACCOUNT,
        "quality",
        "ep",
        type="model_quality",
        baseline="mq",
        settings={
            "model_quality": {"problem_type": "BinaryClassification", "probability_attribute": "0"}
        },
    )
    ids = [f"id-{i}" for i in range(20)]
    _invoke(admin, ["1,1"] * 20, ids)
    # Written by another system straight into the blob store, not through the API: 15 of 20
    # labels positive, the last of two labels for id-0 winning, one label matching nothing.
    runtime = app.state.runtime
    account_id = admin.identity.get_account(ACCOUNT)["id"]
    hour = datetime.now(UTC)
    directory = f"{runtime.blobs.root}/ground-truth/{account_id}/ep/{hour:%Y/%m/%d/%H}"
    runtime.blobs.fs.makedirs(directory, exist_ok=True)

    def record(key: str, label: int) -> str:
        return json.dumps(
            {
                "groundTruthData": {"data": str(label), "encoding": "CSV"},
                "eventMetadata": {"eventId": key},
                "eventVersion": "0",
            }
        )

    lines = [record("id-0", 1)]
    lines += [record(key, int(n >= 5)) for n, key in enumerate(ids)]
    lines.append(record("unknown-id", 1))
    with runtime.blobs.fs.open(f"{directory}/from-labelling-team.jsonl", "wb") as handle:
        handle.write(("\n".join(lines) + "\n").encode())
    with runtime.blobs.fs.open(f"{directory}/ignored.txt", "wb") as handle:
        handle.write(b"not ground truth")

    execution = _run_now(app, admin, "quality")
    assert execution["status"] == "CompletedWithViolations", execution
    assert execution["summary"]["records"] == 20
    assert execution["summary"]["metrics"]["accuracy"] == pytest.approx(15 / 20)
    statistics = admin.monitoring.download_report(
        ACCOUNT, "quality", execution["id"], "statistics.json"
    )
    assert statistics["binary_classification_metrics"]["accuracy"]["value"] == pytest.approx(0.75)
