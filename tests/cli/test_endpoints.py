"""mlgov endpoints through the CLI, against the app in-process."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pyarrow.parquet as pq
from fastapi import FastAPI
from sklearn.dummy import DummyClassifier

from mlgov.server.batch.service import run_pending
from tests.cli.conftest import Cli

MODEL = DummyClassifier(strategy="constant", constant=1).fit([[0, 0], [1, 1]], [0, 1])


def test_deploy_invoke_update_and_label(cli: Cli, tmp_path: Path) -> None:
    cli("accounts", "create", "fraud-dev", "--environment", "dev")
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(pickle.dumps(MODEL))
    dev = ("--account", "fraud-dev")
    cli("models", "create", "churn", *dev)
    for _ in range(2):
        cli("versions", "create", "churn", *dev, "--flavor", "sklearn", "--artifact", str(artifact))
    created = json.loads(
        cli("endpoints", "create", "churn", *dev, "--variant", "churn:1", "--capture",
            "--sampling", "50", "-o", "json").stdout
    )  # fmt: skip
    assert created["capture"]["enabled"] is True
    assert created["capture"]["sampling_percentage"] == 50

    answer = cli(
        "endpoints", "invoke", "churn", *dev, "--data", "1,2\n3,4", "--inference-id", "i-1"
    )
    assert answer.stdout.split() == ["1", "1"]
    assert "variant churn-1" in answer.stderr
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps({"instances": [[1, 2]]}))
    assert json.loads(cli("endpoints", "invoke", "churn", *dev, "--data", f"@{rows}").stdout) == [1]

    updated = json.loads(
        cli("endpoints", "update", "churn", *dev, "--variant", "churn:1:1:blue",
            "--variant", "churn:2:3:green", "--no-capture", "-o", "json").stdout
    )  # fmt: skip
    assert [v["name"] for v in updated["variants"]] == ["blue", "green"]
    assert updated["capture"] == {**created["capture"], "enabled": False}
    table = cli("endpoints", "list", *dev).stdout
    assert "blue=churn:1@1" in table and "green=churn:2@3" in table

    stored = json.loads(
        cli("endpoints", "ground-truth", "churn", *dev, "--label", "i-1=1", "-o", "json").stdout
    )
    assert stored["records"] == 1
    cli("endpoints", "delete", "churn", *dev)
    assert json.loads(cli("endpoints", "list", *dev, "-o", "json").stdout) == []


def test_bad_variants_and_refusals(cli: Cli) -> None:
    cli("accounts", "create", "fraud-dev", "--environment", "dev")
    dev = ("--account", "fraud-dev")
    bad = cli("endpoints", "create", "x", *dev, "--variant", "churn", code=2)
    assert "GROUP:VERSION" in bad.stderr
    missing = cli("endpoints", "create", "x", *dev, "--variant", "churn:1", code=1)
    assert missing.stderr.startswith("ERROR MODEL_GROUP_NOT_FOUND")
    nothing = cli("endpoints", "update", "x", *dev, code=2)
    assert "nothing to change" in nothing.stderr


def test_transform_jobs(cli: Cli, tmp_path: Path, app: FastAPI) -> None:
    cli("accounts", "create", "fraud-dev", "--environment", "dev")
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(pickle.dumps(MODEL))
    dev = ("--account", "fraud-dev")
    cli("models", "create", "churn", *dev)
    cli("versions", "create", "churn", *dev, "--flavor", "sklearn", "--artifact", str(artifact))
    data = tmp_path / "rows.csv"
    data.write_text("a,b\n1,2\n3,4\n")
    queued = json.loads(
        cli("transform-jobs", "create", "nightly", *dev, "--model", "churn:1",
            "--data", str(data), "-o", "json").stdout
    )  # fmt: skip
    assert queued["status"] == "Pending"
    run_pending(app.state.runtime)
    assert "Completed" in cli("transform-jobs", "list", *dev).stdout
    out = tmp_path / "out.parquet"
    cli("transform-jobs", "download", "nightly", *dev, "--to", str(out))
    assert pq.read_table(out).column("prediction").to_pylist() == [1, 1]
    bad = cli(
        "transform-jobs", "create", "x", *dev, "--model", "churn", "--data", str(data), code=2
    )
    assert "GROUP:VERSION" in bad.stderr


def test_transform_job_ground_truth(cli: Cli, tmp_path: Path, app: FastAPI) -> None:
    cli("accounts", "create", "fraud-dev", "--environment", "dev")
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(pickle.dumps(MODEL))
    dev = ("--account", "fraud-dev")
    cli("models", "create", "churn", *dev)
    cli("versions", "create", "churn", *dev, "--flavor", "sklearn", "--artifact", str(artifact))
    data = tmp_path / "rows.csv"
    data.write_text("a,b\n1,2\n3,4\n")
    cli("transform-jobs", "create", "nightly", *dev, "--model", "churn:1", "--data", str(data),
        "--capture")  # fmt: skip
    cli("transform-jobs", "create", "plain", *dev, "--model", "churn:1", "--data", str(data))
    run_pending(app.state.runtime)

    stored = json.loads(
        cli("transform-jobs", "ground-truth", "nightly", *dev, "--label", "nightly-0=1",
            "--label", "nightly-1=0", "-o", "json").stdout
    )  # fmt: skip
    account_id = json.loads(cli("accounts", "get", "fraud-dev", "-o", "json").stdout)["id"]
    assert stored["records"] == 2
    assert stored["path"].startswith(f"ground-truth/{account_id}/transform-job-nightly/")
    labels = tmp_path / "labels.jsonl"
    labels.write_text(
        json.dumps(
            {
                "groundTruthData": {"data": "1", "encoding": "CSV"},
                "eventMetadata": {"eventId": "nightly-1"},
                "eventVersion": "0",
            }
        )
        + "\n"
    )
    from_file = cli("transform-jobs", "ground-truth", "nightly", *dev, "--file", str(labels))
    assert "transform-job-nightly" in from_file.stdout

    neither = cli("transform-jobs", "ground-truth", "nightly", *dev, code=2)
    assert "--label" in neither.stderr
    missing = cli("transform-jobs", "ground-truth", "nope", *dev, "--label", "nope-0=1", code=1)
    assert missing.stderr.startswith("ERROR TRANSFORM_JOB_NOT_FOUND")
    uncaptured = cli(
        "transform-jobs", "ground-truth", "plain", *dev, "--label", "plain-0=1", code=1
    )
    assert uncaptured.stderr.startswith("ERROR INVALID_REQUEST") and "capture" in uncaptured.stderr


def test_dashboard(cli: Cli, tmp_path: Path) -> None:
    cli("accounts", "create", "fraud-dev", "--environment", "dev")
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(pickle.dumps(MODEL))
    dev = ("--account", "fraud-dev")
    cli("models", "create", "churn", *dev)
    cli("versions", "create", "churn", *dev, "--flavor", "sklearn", "--artifact", str(artifact))
    cli("endpoints", "create", "churn", *dev, "--variant", "churn:1", "--capture")
    table = cli("dashboard").stdout
    assert "fraud-dev" in table and "churn:1 PendingManualApproval" in table
    [row] = json.loads(cli("dashboard", "-a", "fraud-dev", "-o", "json").stdout)
    assert row["endpoint"] == "churn" and row["capture"] is True


def test_endpoint_is_an_alias_of_endpoints(cli: Cli) -> None:
    cli("accounts", "create", "fraud-dev", "--environment", "dev")
    listed = cli("endpoint", "list", "--account", "fraud-dev", "-o", "json")
    assert json.loads(listed.stdout) == json.loads(
        cli("endpoints", "list", "--account", "fraud-dev", "-o", "json").stdout
    )
    assert "serve" in cli("endpoint", "--help").stdout
