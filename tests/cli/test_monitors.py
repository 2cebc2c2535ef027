"""mlgov baselines and mlgov monitors through the CLI, against the app in-process."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from fastapi import FastAPI
from sklearn.dummy import DummyRegressor

from tests.cli.conftest import Cli
from tests.server.monitoring.test_monitoring import SAGEMAKER_BASELINE

DEV = ("--account", "fraud-dev")


def test_baseline_monitor_run_and_report(cli: Cli, app: FastAPI, tmp_path: Path) -> None:
    cli("accounts", "create", "fraud-dev", "--environment", "dev")
    artifact = tmp_path / "model.pkl"
    model = DummyRegressor(strategy="constant", constant=0.5).fit([[0, 0]], [0.5])
    artifact.write_bytes(pickle.dumps(model))
    cli("models", "create", "churn", *DEV)
    cli("versions", "create", "churn", *DEV, "--flavor", "sklearn", "--artifact", str(artifact))
    cli("endpoints", "create", "churn", *DEV, "--variant", "churn:1", "--capture")

    rng = np.random.default_rng(3)
    train = tmp_path / "train.csv"
    rows = [
        f"0.5,{a:.4f},{b:.4f}"
        for a, b in zip(rng.normal(0, 1, 300), rng.uniform(size=300), strict=True)
    ]
    train.write_text("prediction,f0,f1\n" + "\n".join(rows) + "\n")
    cli("baselines", "upload", str(train), *DEV)
    created = json.loads(cli("baselines", "create", "bl", *DEV, "--dataset", "train.csv",
                             "-o", "json").stdout)  # fmt: skip
    assert created["files"] == ["constraints.json", "statistics.json"]
    statistics = tmp_path / "statistics.json"
    constraints = tmp_path / "constraints.json"
    statistics.write_text(json.dumps(SAGEMAKER_BASELINE["statistics"]))
    constraints.write_text(json.dumps(SAGEMAKER_BASELINE["constraints"]))
    cli("baselines", "import", "sm", *DEV, "--statistics", str(statistics),
        "--constraints", str(constraints))  # fmt: skip
    assert "sm" in cli("baselines", "list", *DEV).stdout
    downloaded = json.loads(cli("baselines", "download", "sm", "constraints.json", *DEV).stdout)
    assert downloaded == SAGEMAKER_BASELINE["constraints"]

    monitor = json.loads(cli("monitors", "create", "dq", *DEV, "--endpoint", "churn",
                             "--baseline", "bl", "--schedule", "rate(1 hour)",
                             "-o", "json").stdout)  # fmt: skip
    assert monitor["schedule"] == "rate(1 hour)" and monitor["next_run_at"]
    cli("monitors", "create", "bad", *DEV, "--endpoint", "churn", "--baseline", "bl",
        "--schedule", "cron(99 * * * *)", code=1)  # fmt: skip
    for a in rng.normal(4, 1, 30):
        cli("endpoints", "invoke", "churn", *DEV, "--data", f"{a:.4f},0.5")
    app.state.runtime.capture.flush()

    now = datetime.now(UTC)
    start = (now - timedelta(hours=1)).isoformat()
    end = (now + timedelta(minutes=5)).isoformat()
    ran = cli("monitors", "run", "dq", *DEV, "--start", start, "--end", end, "--inline",
              "--wait", "-o", "json", code=1)  # fmt: skip
    execution = json.loads(ran.stdout)
    assert execution["status"] == "CompletedWithViolations"
    assert execution["id"] in cli("monitors", "executions", "dq", *DEV).stdout
    report = json.loads(cli("monitors", "report", "dq", execution["id"],
                            "constraint_violations.json", *DEV).stdout)  # fmt: skip
    assert any(
        v["feature_name"] == "f0" and v["constraint_check_type"] == "baseline_drift_check"
        for v in report["violations"]
    )
    paused = json.loads(cli("monitors", "update", "dq", *DEV, "--disable", "-o", "json").stdout)
    assert paused["status"] == "Stopped" and paused["next_run_at"] is None
    cli("monitors", "delete", "dq", *DEV)
    cli("baselines", "delete", "bl", *DEV)
    assert json.loads(cli("monitors", "list", *DEV, "-o", "json").stdout) == []


def test_monitor_on_a_transform_job(cli: Cli, app: FastAPI, tmp_path: Path) -> None:
    from mlgov.server.batch.service import run_pending

    cli("accounts", "create", "fraud-dev", "--environment", "dev")
    artifact = tmp_path / "model.pkl"
    model = DummyRegressor(strategy="constant", constant=0.5).fit([[0, 0]], [0.5])
    artifact.write_bytes(pickle.dumps(model))
    cli("models", "create", "churn", *DEV)
    cli("versions", "create", "churn", *DEV, "--flavor", "sklearn", "--artifact", str(artifact))

    rng = np.random.default_rng(5)
    train = tmp_path / "train.csv"
    rows = [
        f"0.5,{a:.4f},{b:.4f}"
        for a, b in zip(rng.normal(0, 1, 300), rng.uniform(size=300), strict=True)
    ]
    train.write_text("prediction,f0,f1\n" + "\n".join(rows) + "\n")
    cli("baselines", "upload", str(train), *DEV)
    cli("baselines", "create", "bl", *DEV, "--dataset", "train.csv")
    scored = tmp_path / "rows.csv"
    drifted = zip(rng.normal(4, 1, 50), rng.uniform(size=50), strict=True)
    scored.write_text("f0,f1\n" + "\n".join(f"{a:.4f},{b:.4f}" for a, b in drifted) + "\n")
    cli("transform-jobs", "create", "nightly", *DEV, "--model", "churn:1",
        "--data", str(scored), "--capture")  # fmt: skip
    run_pending(app.state.runtime)

    both = cli("monitors", "create", "dq", *DEV, "--endpoint", "churn",
               "--transform-job", "nightly", "--baseline", "bl", code=2)  # fmt: skip
    assert "exactly one" in both.stderr
    cli("monitors", "create", "dq", *DEV, "--baseline", "bl", code=2)
    missing = cli("monitors", "create", "dq", *DEV, "--transform-job", "nowhere",
                  "--baseline", "bl", code=1)  # fmt: skip
    assert "transform job nowhere does not exist" in missing.stderr
    monitor = json.loads(cli("monitors", "create", "dq", *DEV, "--transform-job", "nightly",
                             "--baseline", "bl", "-o", "json").stdout)  # fmt: skip
    assert (monitor["transform_job"], monitor["endpoint"]) == ("nightly", None)
    listed = cli("monitors", "list", *DEV, "--transform-job", "nightly").stdout
    assert "TRANSFORM JOB" in listed and "nightly" in listed

    # No window given: the run covers the job's run.
    ran = cli("monitors", "run", "dq", *DEV, "--inline", "--wait", "-o", "json", code=1)
    execution = json.loads(ran.stdout)
    assert execution["status"] == "CompletedWithViolations"
    assert execution["transform_job"] == "nightly"
    assert execution["summary"]["records"] == 50
    report = json.loads(cli("monitors", "report", "dq", execution["id"],
                            "constraint_violations.json", *DEV).stdout)  # fmt: skip
    assert any(
        v["feature_name"] == "f0" and v["constraint_check_type"] == "baseline_drift_check"
        for v in report["violations"]
    )
