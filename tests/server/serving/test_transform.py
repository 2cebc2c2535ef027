"""Batch transform jobs: every row scored with an id, output verified, capture, failures."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from mlgov import Client
from mlgov.errors import Conflict, NotFound, PreconditionFailed
from mlgov.formats.capture import CaptureRecord
from mlgov.server.batch.service import run_pending

X, Y = load_iris(return_X_y=True)
MODEL = LogisticRegression(max_iter=500).fit(X, Y)
NAMES = ["sl", "sw", "pl", "pw"]


def _setup(admin: Client, environment: str = "dev") -> None:
    admin.identity.create_account("acct", environment)
    admin.registry.create_group("acct", "iris")
    admin.registry.create_version(
        "acct", "iris", flavor="sklearn", artifact=pickle.dumps(MODEL),
        signature={"inputs": [{"name": n} for n in NAMES]},
    )  # fmt: skip


def _parquet(rows: int) -> bytes:
    table = pa.table({name: X[:rows, i] for i, name in enumerate(NAMES)} | {"extra": ["x"] * rows})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def test_a_job_scores_every_row_and_captures_it(
    admin: Client, app: FastAPI, tmp_path: Path
) -> None:
    _setup(admin)
    job = admin.serving.create_transform_job(
        "acct", "nightly", "iris", 1, data=_parquet(150), format="parquet", capture=True
    )
    assert job["status"] == "Pending"
    with pytest.raises(Conflict):
        admin.serving.download_transform_output("acct", "nightly", tmp_path / "early.parquet")
    assert run_pending(app.state.runtime) == 1
    done = admin.serving.get_transform_job("acct", "nightly")
    assert (done["status"], done["records"]) == ("Completed", 150)

    target = tmp_path / "out.parquet"
    admin.serving.download_transform_output("acct", "nightly", target)
    out = pq.read_table(target)
    assert out.column_names == ["inference_id", *NAMES, "prediction"]  # signature columns only
    assert out.column("inference_id").to_pylist()[:2] == ["nightly-0", "nightly-1"]
    assert out.column("prediction").to_pylist() == MODEL.predict(X[:150]).tolist()

    root = Path(app.state.runtime.settings.blob_url) / "capture"
    records = [
        CaptureRecord.model_validate_json(line)
        for path in sorted(root.rglob("transform-job-nightly/**/*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    assert len(records) == 150
    assert records[0].event_metadata.inference_id == "nightly-0"
    assert records[0].endpoint_input is not None and records[0].endpoint_input.encoding == "CSV"


def test_csv_without_header_and_failures(admin: Client, app: FastAPI) -> None:
    _setup(admin)
    rows = "\n".join(",".join(str(v) for v in row) for row in X[:10]).encode()
    admin.serving.create_transform_job("acct", "plain", "iris", 1, data=rows, csv_header=False)
    admin.serving.create_transform_job("acct", "words", "iris", 1, data=b"a,b,c,d\nx,y,z,w\n")
    assert run_pending(app.state.runtime) == 2
    assert admin.serving.get_transform_job("acct", "plain")["records"] == 10
    failed = admin.serving.get_transform_job("acct", "words")
    assert failed["status"] == "Failed" and "not all numeric" in failed["failure_reason"]


def test_refusals(admin: Client) -> None:
    _setup(admin, environment="prod")
    with pytest.raises(PreconditionFailed) as unapproved:
        admin.serving.create_transform_job("acct", "j", "iris", 1, data=b"1,2,3,4\n")
    assert unapproved.value.code == "DEPLOYMENT_REFUSED"
    admin.identity.create_account("other", "dev")
    sha = admin.registry.upload_artifact("other", b"5,6,7,8\n")["sha256"]
    admin.registry.update_settings("acct", four_eyes=False)
    admin.registry.approve("acct", "iris", 1)
    with pytest.raises(NotFound) as foreign:
        admin.serving.create_transform_job("acct", "j", "iris", 1, data_sha256=sha)
    assert foreign.value.code == "ARTIFACT_NOT_FOUND"  # another account's dataset
    with pytest.raises(NotFound):
        admin.serving.get_transform_job("acct", "nope")
