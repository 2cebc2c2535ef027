"""mlgov training-jobs through the CLI, against the app in-process."""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

from fastapi import FastAPI
from sklearn.dummy import DummyClassifier

from mlgov.server.training.runner import run_pending
from tests.cli.conftest import Cli


def test_create_run_inspect_and_refuse(cli: Cli, tmp_path: Path, app: FastAPI) -> None:
    cli("accounts", "create", "fraud-dev", "--environment", "dev")
    dev = ("--account", "fraud-dev")
    cli("models", "create", "churn", *dev)
    prebuilt = tmp_path / "prebuilt.pkl"
    prebuilt.write_bytes(pickle.dumps(DummyClassifier(strategy="most_frequent").fit([[0]], [1])))
    data = tmp_path / "train.csv"
    data.write_text("x,label\n0,1\n1,1\n")
    script = tmp_path / "train.py"
    script.write_text(
        "import json, os, shutil\n"
        f"shutil.copy({str(prebuilt)!r}, os.environ['MLGOV_MODEL_DIR'])\n"
        "params = json.loads(os.environ['MLGOV_PARAMETERS'])\n"
        "rows = open(os.environ['MLGOV_TRAINING_DATA']).read().count(chr(10)) - 1\n"
        "metrics = {'rows': rows, 'alpha': params['alpha']}\n"
        "json.dump(metrics, open(os.environ['MLGOV_OUTPUT'], 'w'))\n"
        "print('params', sorted(params.items()))\n"
    )
    queued = json.loads(
        cli("training-jobs", "create", "nightly", *dev, "--group", "churn",
            "--command", f"{sys.executable} {script}", "--training-data", f"@{data}",
            "--evaluation-data", f"@{data}", "--param", "alpha=0.5", "--param", "kind=ridge",
            "-o", "json").stdout
    )  # fmt: skip
    assert queued["status"] == "Pending"
    assert queued["hyperparameters"] == {"alpha": 0.5, "kind": "ridge"}
    assert queued["training_data"]["filename"] == "train.csv"
    run_pending(app.state.runtime)

    listed = cli("training-jobs", "list", *dev).stdout
    assert "nightly" in listed and "Completed" in listed and "no-champion" in listed
    job = json.loads(cli("training-jobs", "get", "nightly", *dev, "-o", "json").stdout)
    assert job["metrics"] == {"rows": 2, "alpha": 0.5} and job["model_version"] == 1
    assert (
        "params [('alpha', 0.5), ('kind', 'ridge')]"
        in cli("training-jobs", "logs", "nightly", *dev).stdout
    )
    report = json.loads(cli("training-jobs", "comparison", "nightly", *dev).stdout)
    assert report["status"] == "Completed" and report["report"]["evaluation_rows"] == 2
    cli("training-jobs", "wait", "nightly", *dev, "--timeout", "1")

    refused = cli("training-jobs", "stop", "nightly", *dev, code=1)
    assert refused.stderr.startswith("ERROR TRAINING_JOB_NOT_STOPPABLE")
    both = cli("training-jobs", "create", "x", *dev, "--group", "churn", "--training-data", "/d",
               code=2)  # fmt: skip
    assert "exactly one of --command or --function" in both.stderr
    missing = cli("training-jobs", "create", "x", *dev, "--group", "ghost",
                  "--training-data", "/d", "--function", "m:f", code=1)  # fmt: skip
    assert missing.stderr.startswith("ERROR MODEL_GROUP_NOT_FOUND")
