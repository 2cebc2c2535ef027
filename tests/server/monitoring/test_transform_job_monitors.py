"""Monitors on batch transform jobs: the job's captures and ground truth, run end to end."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI

from mlgov import AccessDenied, Client, InvalidRequest, NotFound
from mlgov.server.batch.service import run_pending as run_transform_jobs
from tests.conftest import client_for
from tests.server.monitoring.helpers import (
    ACCOUNT,
    binary_quality_baseline,
    csv_bytes,
    monitoring_events,
    register_constant_model,
    run_pending,
)


def _transform(
    app: FastAPI, admin: Client, name: str, rows: np.ndarray, *, capture: bool = True
) -> dict[str, Any]:
    data = csv_bytes({"f0": rows[:, 0], "f1": rows[:, 1]})
    admin.serving.create_transform_job(ACCOUNT, name, "g", 1, data=data, capture=capture)
    assert run_transform_jobs(app.state.runtime) == 1
    job = admin.serving.get_transform_job(ACCOUNT, name)
    assert job["status"] == "Completed", job
    return job


def _scored_job_with_quality_monitor(app: FastAPI, admin: Client) -> None:
    """Job ``scoring``: 40 rows scored 0.9 by a constant model, watched by ``scoring-quality``."""
    register_constant_model(admin, 0.9)  # always the positive class
    binary_quality_baseline(admin)
    _transform(app, admin, "scoring", np.ones((40, 2)))
    admin.monitoring.create_monitor(
        ACCOUNT,
        "scoring-quality",
        transform_job="scoring",
        type="model_quality",
        baseline="mq",
        settings={
            "model_quality": {"problem_type": "BinaryClassification", "probability_attribute": "0"}
        },
    )


def _label(row: int) -> dict[str, Any]:
    """Row ``row`` of job ``scoring`` labelled ``row % 2``: half the positive answers are wrong."""
    return {
        "groundTruthData": {"data": str(row % 2), "encoding": "CSV"},
        "eventMetadata": {"eventId": f"scoring-{row}"},
        "eventVersion": "0",
    }


def test_data_quality_monitor_on_a_transform_job_reports_drift(app: FastAPI, admin: Client) -> None:
    register_constant_model(admin, 0.5)
    rng = np.random.default_rng(11)
    train = {
        "prediction": np.full(400, 0.5),
        "f0": rng.normal(0, 1, 400),
        "f1": rng.uniform(0, 1, 400),
    }
    admin.monitoring.upload_dataset(ACCOUNT, "train.csv", csv_bytes(train))
    admin.monitoring.create_baseline(ACCOUNT, "bl", dataset="train.csv")
    drifted = np.column_stack([rng.normal(3, 1, 80), rng.uniform(0, 1, 80)])
    job = _transform(app, admin, "nightly", drifted)

    monitor = admin.monitoring.create_monitor(
        ACCOUNT, "nightly-dq", transform_job="nightly", baseline="bl"
    )
    assert (monitor["transform_job"], monitor["endpoint"]) == ("nightly", None)
    assert [
        m["name"] for m in admin.monitoring.list_monitors(ACCOUNT, transform_job="nightly")
    ] == ["nightly-dq"]
    assert list(admin.monitoring.list_monitors(ACCOUNT, endpoint="nightly")) == []

    # Without a window, a run covers the job's run.
    started = admin.monitoring.start_execution(ACCOUNT, "nightly-dq")
    assert datetime.fromisoformat(started["window_start"]) == datetime.fromisoformat(
        job["started_at"]
    )
    assert datetime.fromisoformat(started["window_end"]) > datetime.fromisoformat(job["ended_at"])
    now = datetime.now(UTC)
    assert run_pending(app, now) == {started["id"]: "CompletedWithViolations"}

    execution = admin.monitoring.get_execution(ACCOUNT, "nightly-dq", started["id"])
    assert (execution["transform_job"], execution["endpoint"]) == ("nightly", None)
    assert execution["summary"]["records"] == 80
    violations = admin.monitoring.download_report(
        ACCOUNT, "nightly-dq", started["id"], "constraint_violations.json"
    )["violations"]
    drifted_features = {
        v["feature_name"]
        for v in violations
        if v["constraint_check_type"] == "baseline_drift_check"
    }
    assert "f0" in drifted_features and "prediction" not in drifted_features
    assert execution["violation_count"] == len(violations) > 0
    statistics = admin.monitoring.download_report(
        ACCOUNT, "nightly-dq", started["id"], "statistics.json"
    )
    assert statistics["dataset"]["item_count"] == 80

    # Metrics are dimensioned by the job, not an endpoint.
    names = {
        m["metric_name"]
        for m in admin.metrics.list(
            ACCOUNT,
            namespace="mlgov/Monitoring",
            dimensions=["MonitorName=nightly-dq", "TransformJobName=nightly"],
        )
    }
    assert {"feature_baseline_drift_f0", "violation_count"} <= names
    (event,) = monitoring_events(app)
    assert event["detail"]["TransformJobName"] == "nightly"
    assert event["detail"]["EndpointName"] is None
    assert event["detail"]["ExecutionStatus"] == "CompletedWithViolations"


def test_model_quality_monitor_on_a_transform_job_merges_dropped_ground_truth(
    app: FastAPI, admin: Client
) -> None:
    _scored_job_with_quality_monitor(app, admin)
    # Labels for a job's rows (inference ids <job>-<row>) go to the job's ground-truth prefix.
    runtime = app.state.runtime
    account_id = admin.identity.get_account(ACCOUNT)["id"]
    hour = datetime.now(UTC)
    directory = (
        f"{runtime.blobs.root}/ground-truth/{account_id}/transform-job-scoring/{hour:%Y/%m/%d/%H}"
    )
    runtime.blobs.fs.makedirs(directory, exist_ok=True)
    lines = "".join(json.dumps(_label(row)) + "\n" for row in range(40))
    with runtime.blobs.fs.open(f"{directory}/labels.jsonl", "wb") as handle:
        handle.write(lines.encode())

    started = admin.monitoring.start_execution(ACCOUNT, "scoring-quality")
    assert run_pending(app, datetime.now(UTC)) == {started["id"]: "CompletedWithViolations"}
    execution = admin.monitoring.get_execution(ACCOUNT, "scoring-quality", started["id"])
    assert execution["summary"]["records"] == 40
    assert execution["summary"]["metrics"]["accuracy"] == pytest.approx(0.5)
    violated = {
        v["metric_name"]
        for v in admin.monitoring.download_report(
            ACCOUNT, "scoring-quality", started["id"], "constraint_violations.json"
        )["violations"]
    }
    assert "accuracy" in violated


def test_model_quality_monitor_on_a_transform_job_merges_labels_sent_through_the_api(
    app: FastAPI, admin: Client
) -> None:
    _scored_job_with_quality_monitor(app, admin)
    # Half the rows by the map form, the other half as SageMaker records.
    first = admin.serving.put_transform_job_ground_truth(
        ACCOUNT, "scoring", {f"scoring-{row}": row % 2 for row in range(20)}
    )
    second = admin.serving.put_transform_job_ground_truth(
        ACCOUNT,
        "scoring",
        [_label(row) for row in range(20, 40)],
    )
    account_id = admin.identity.get_account(ACCOUNT)["id"]
    assert (first["records"], second["records"]) == (20, 20)
    assert first["path"].startswith(f"ground-truth/{account_id}/transform-job-scoring/")

    started = admin.monitoring.start_execution(ACCOUNT, "scoring-quality")
    assert run_pending(app, datetime.now(UTC)) == {started["id"]: "CompletedWithViolations"}
    execution = admin.monitoring.get_execution(ACCOUNT, "scoring-quality", started["id"])
    assert execution["summary"]["records"] == 40
    assert execution["summary"]["metrics"]["accuracy"] == pytest.approx(0.5)
    records = list(admin.audit.records(action="serving:PutTransformJobGroundTruth"))
    assert [r["eventName"] for r in records] == ["PutTransformJobGroundTruth"] * 2


def test_transform_job_ground_truth_refusals(app: FastAPI, admin: Client) -> None:
    for account in (ACCOUNT, "other"):
        register_constant_model(admin, 0.5, account)
    admin.serving.create_transform_job("other", "theirs", "g", 1, data=b"a,b\n1,2\n", capture=True)
    admin.serving.create_transform_job(ACCOUNT, "uncaptured", "g", 1, data=b"a,b\n1,2\n")
    admin.serving.create_transform_job(
        ACCOUNT, "captured", "g", 1, data=b"a,b\n1,2\n", capture=True
    )

    with pytest.raises(NotFound) as unknown:
        admin.serving.put_transform_job_ground_truth(ACCOUNT, "nope", {"nope-0": 1})
    assert unknown.value.code == "TRANSFORM_JOB_NOT_FOUND"
    with pytest.raises(NotFound) as elsewhere:  # another account's job is not this account's
        admin.serving.put_transform_job_ground_truth(ACCOUNT, "theirs", {"theirs-0": 1})
    assert elsewhere.value.code == "TRANSFORM_JOB_NOT_FOUND"
    with pytest.raises(InvalidRequest) as uncaptured:
        admin.serving.put_transform_job_ground_truth(ACCOUNT, "uncaptured", {"uncaptured-0": 1})
    assert uncaptured.value.code == "INVALID_REQUEST" and "capture" in uncaptured.value.message
    # The endpoint route's validation: a record without its event id, or no record at all.
    bad_bodies: list[Any] = [[{"groundTruthData": {"data": "1"}}], {}]
    for bad in bad_bodies:
        with pytest.raises(InvalidRequest) as invalid:
            admin.serving.put_transform_job_ground_truth(ACCOUNT, "captured", bad)
        assert invalid.value.code == "INVALID_DATA"
    assert not app.state.runtime.blobs.fs.exists(f"{app.state.runtime.blobs.root}/ground-truth")

    # A key of this account cannot label the other account's job.
    admin.identity.create_principal("team-admin")
    admin.identity.bind_role("team-admin", "OrgAdmin", account=ACCOUNT)
    team = client_for(app, admin.identity.create_key("team-admin")["secret"])
    with pytest.raises(AccessDenied):
        team.serving.put_transform_job_ground_truth("other", "theirs", {"theirs-0": 1})
    # A data scientist does not operate serving: the action is granted where PutGroundTruth is.
    admin.identity.create_principal("scientist")
    admin.identity.bind_role("scientist", "DataScientist", account=ACCOUNT)
    scientist = client_for(app, admin.identity.create_key("scientist")["secret"])
    with pytest.raises(AccessDenied):
        scientist.serving.put_transform_job_ground_truth(ACCOUNT, "captured", {"captured-0": 1})
    admin.identity.create_principal("engineer")
    admin.identity.bind_role("engineer", "MLEngineer", account=ACCOUNT)
    engineer = client_for(app, admin.identity.create_key("engineer")["secret"])
    stored = engineer.serving.put_transform_job_ground_truth(ACCOUNT, "captured", {"captured-0": 1})
    assert stored["records"] == 1


def test_a_monitor_names_one_source_in_its_own_account(app: FastAPI, admin: Client) -> None:
    for account in (ACCOUNT, "other"):
        register_constant_model(admin, 0.5, account)
    admin.serving.create_endpoint(ACCOUNT, "ep", [{"group": "g", "version": 1}])
    admin.monitoring.upload_dataset(ACCOUNT, "train.csv", csv_bytes({"prediction": [0.5, 0.5]}))
    admin.monitoring.create_baseline(ACCOUNT, "bl", dataset="train.csv")
    admin.serving.create_transform_job("other", "theirs", "g", 1, data=b"a,b\n1,2\n", capture=True)
    admin.serving.create_transform_job(ACCOUNT, "uncaptured", "g", 1, data=b"a,b\n1,2\n")

    with pytest.raises(InvalidRequest) as both:
        admin.monitoring.create_monitor(
            ACCOUNT, "m", "ep", transform_job="uncaptured", baseline="bl"
        )
    assert both.value.code == "INVALID_REQUEST"
    assert "exactly one" in both.value.message
    with pytest.raises(InvalidRequest) as neither:
        admin.monitoring.create_monitor(ACCOUNT, "m", baseline="bl")
    assert neither.value.code == "INVALID_REQUEST"
    with pytest.raises(NotFound) as elsewhere:  # another account's job is not this account's
        admin.monitoring.create_monitor(ACCOUNT, "m", transform_job="theirs", baseline="bl")
    assert elsewhere.value.code == "TRANSFORM_JOB_NOT_FOUND"
    with pytest.raises(InvalidRequest) as uncaptured:
        admin.monitoring.create_monitor(ACCOUNT, "m", transform_job="uncaptured", baseline="bl")
    assert uncaptured.value.code == "INVALID_MONITOR"

    # A key of this account cannot put a monitor on the other account's job.
    admin.identity.create_principal("team-admin")
    admin.identity.bind_role("team-admin", "OrgAdmin", account=ACCOUNT)
    team = client_for(app, admin.identity.create_key("team-admin")["secret"])
    with pytest.raises(AccessDenied):
        team.monitoring.create_monitor("other", "m", transform_job="theirs")
    assert list(admin.monitoring.list_monitors("other")) == []
    assert list(admin.monitoring.list_monitors(ACCOUNT)) == []


def test_a_monitor_on_a_job_that_has_not_run_uses_the_default_window(
    app: FastAPI, admin: Client
) -> None:
    register_constant_model(admin, 0.5)
    admin.monitoring.upload_dataset(ACCOUNT, "train.csv", csv_bytes({"prediction": [0.5, 0.5]}))
    admin.monitoring.create_baseline(ACCOUNT, "bl", dataset="train.csv")
    admin.serving.create_transform_job(ACCOUNT, "later", "g", 1, data=b"a,b\n1,2\n", capture=True)
    admin.monitoring.create_monitor(ACCOUNT, "m", transform_job="later", baseline="bl")
    started = admin.monitoring.start_execution(ACCOUNT, "m")
    window = datetime.fromisoformat(started["window_end"]) - datetime.fromisoformat(
        started["window_start"]
    )
    assert window == timedelta(hours=1)
    assert run_pending(app, datetime.now(UTC)) == {started["id"]: "Failed"}
    failed = admin.monitoring.get_execution(ACCOUNT, "m", started["id"])
    assert "no captured data for transform job later" in failed["failure_reason"]


def test_a_rule_on_the_job_completing_runs_its_monitor_over_the_job(
    app: FastAPI, admin: Client
) -> None:
    from mlgov.server.events.dispatcher import Dispatcher
    from mlgov.server.monitoring import triggers

    register_constant_model(admin, 0.5)
    train = {"prediction": np.full(50, 0.5), "f0": np.arange(50.0), "f1": np.arange(50.0)}
    admin.monitoring.upload_dataset(ACCOUNT, "train.csv", csv_bytes(train))
    admin.monitoring.create_baseline(ACCOUNT, "bl", dataset="train.csv")
    admin.serving.create_transform_job(
        ACCOUNT,
        "nightly",
        "g",
        1,
        data=csv_bytes({"f0": [1.0, 2.0], "f1": [3.0, 4.0]}),
        capture=True,
    )
    admin.monitoring.create_monitor(ACCOUNT, "nightly-dq", transform_job="nightly", baseline="bl")
    admin.events.put_rule(
        ACCOUNT,
        "job-done",
        {
            "source": ["mlgov.serving"],
            "detail-type": ["Transform Job State Change"],
            "detail": {"TransformJobName": ["nightly"], "TransformJobStatus": ["Completed"]},
        },
    )
    admin.events.put_targets(
        ACCOUNT,
        "job-done",
        [
            {
                "id": "monitor",
                "type": "internal",
                "config": {"handler": triggers.HANDLER, "options": {"monitor": "nightly-dq"}},
            }
        ],
    )
    assert run_transform_jobs(app.state.runtime) == 1
    job = admin.serving.get_transform_job(ACCOUNT, "nightly")
    triggers.bind(app.state.runtime)
    dispatcher = Dispatcher(app.state.runtime)
    try:
        for _ in range(3):
            dispatcher.run_once()
    finally:
        dispatcher.close()
    (execution,) = admin.monitoring.list_executions(ACCOUNT, "nightly-dq")
    assert execution["trigger"] == "event"
    assert datetime.fromisoformat(execution["window_start"]) == datetime.fromisoformat(
        job["started_at"]
    )
    (status,) = run_pending(app, datetime.now(UTC)).values()
    assert status in ("Completed", "CompletedWithViolations")
    done = admin.monitoring.get_execution(ACCOUNT, "nightly-dq", execution["id"])
    assert done["summary"]["records"] == 2
