"""The whole loop, a short `make demo`: serve and capture, monitor, alarm, retrain by event,
approve, redeploy by rule; each background step driven here with an explicit clock or pass."""

from __future__ import annotations

import pickle
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from sklearn.linear_model import LogisticRegression

from mlgov import Client
from mlgov.server.alarms import service as alarms
from mlgov.server.db.engine import unit_of_work
from mlgov.server.events.dispatcher import Dispatcher
from mlgov.server.training import runner
from mlgov.settings import AuditSettings, DatabaseSettings, ServerSettings, Settings
from tests.server.events.conftest import FAST_EVENTS, drain

ACCOUNT = "lab"
RETRAIN = textwrap.dedent(
    """
    import os, pickle
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    data = np.loadtxt(os.environ["MLGOV_TRAINING_DATA"], delimiter=",", skiprows=1)
    model = LogisticRegression().fit(data[:, :-1], data[:, -1].astype(int))
    with open(os.path.join(os.environ["MLGOV_MODEL_DIR"], "model.pkl"), "wb") as out:
        pickle.dump(model, out)
    """
)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database=DatabaseSettings(url=database_url, pool_size=4),
        server=ServerSettings(max_body_bytes=1024 * 1024),
        audit=AuditSettings(digest_period_seconds=3600),
        events=FAST_EVENTS,
    )


@pytest.fixture
def dispatcher(app: FastAPI) -> Iterator[Dispatcher]:
    engine = Dispatcher(app.state.runtime)
    yield engine
    engine.close()


def _world(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    return x, (x[:, 0] - x[:, 1] > 0).astype(int)


def _traffic(admin: Client, rows: np.ndarray, labels: np.ndarray, prefix: str) -> None:
    truth = {}
    for i, row in enumerate(rows):
        body = ",".join(repr(float(v)) for v in row)
        admin.serving.invoke(
            ACCOUNT, "live", body=body, content_type="text/csv", accept="text/csv",
            inference_id=f"{prefix}-{i}",
        )  # fmt: skip
        truth[f"{prefix}-{i}"] = int(labels[i])
    admin.serving.put_ground_truth(ACCOUNT, "live", truth)


def _monitor(app: FastAPI, admin: Client, start: datetime) -> dict[str, object]:
    app.state.runtime.capture.flush()  # what the capture writer's next tick would write
    run = admin.monitoring.start_execution(
        ACCOUNT, "quality", start=start, end=datetime.now(UTC) + timedelta(minutes=1),
        run_inline=True,
    )  # fmt: skip
    return admin.monitoring.wait(ACCOUNT, "quality", run["id"], poll_seconds=0.1)


def test_a_degraded_model_is_retrained_approved_and_redeployed(
    app: FastAPI, admin: Client, dispatcher: Dispatcher, tmp_path: Path
) -> None:
    x, y = _world(400, seed=1)
    device = np.array([1.0, 4.0])  # the new device reads the second feature four times larger
    model = LogisticRegression().fit(x[:200], y[:200])

    admin.identity.create_account(ACCOUNT, "dev")
    admin.registry.update_settings(ACCOUNT, four_eyes=False)
    admin.registry.create_group(ACCOUNT, "m")
    admin.registry.create_version(ACCOUNT, "m", flavor="sklearn", artifact=pickle.dumps(model))
    admin.registry.approve(ACCOUNT, "m", 1)
    admin.serving.create_endpoint(
        ACCOUNT, "live", [{"group": "m", "version": 1}], capture={"enabled": True}
    )
    validation = "prediction,label\n" + "".join(
        f"{p},{t}\n" for p, t in zip(model.predict(x[200:300]), y[200:300], strict=True)
    )
    admin.monitoring.upload_dataset(ACCOUNT, "validation.csv", validation.encode())
    quality = {"problem_type": "BinaryClassification", "inference_attribute": "prediction"}
    admin.monitoring.create_baseline(
        ACCOUNT, "quality", type="model_quality", dataset="validation.csv", model_quality=quality
    )
    admin.monitoring.create_monitor(
        ACCOUNT, "quality", "live", type="model_quality", baseline="quality",
        settings={"model_quality": {**quality, "inference_attribute": "_c0"}},
    )  # fmt: skip
    admin.alarms.put_metric_alarm(
        ACCOUNT, "accuracy-low", namespace="mlgov/Monitoring", metric_name="accuracy",
        dimensions={"MonitorName": "quality", "EndpointName": "live"}, statistic="Minimum",
        evaluation_periods=2, datapoints_to_alarm=1,  # either side of a minute boundary
        threshold=0.95, comparison_operator="LessThanThreshold", treat_missing_data="notBreaching",
    )  # fmt: skip
    relabelled = tmp_path / "new-device.csv"
    relabelled.write_text(
        "a,b,label\n"
        + "".join(f"{a},{b},{t}\n" for (a, b), t in zip(x[:200] * device, y[:200], strict=True))
    )
    script = tmp_path / "retrain.py"
    script.write_text(RETRAIN)
    template = {
        "entrypoint": {"command": [sys.executable, str(script)]},
        "training_data": {"uri": str(relabelled)},
        "model_group": "m",
    }
    alarm_fired = {
        "source": ["mlgov.alarms"],
        "detail": {"alarmName": ["accuracy-low"], "state": {"value": ["ALARM"]}},
    }
    approved = {"source": ["mlgov.registry"], "detail": {"ModelApprovalStatus": ["Approved"]}}
    admin.events.put_rule(ACCOUNT, "retrain", alarm_fired)
    admin.events.put_targets(ACCOUNT, "retrain", [{
        "id": "train", "type": "internal",
        "config": {"handler": "training.start_job", "options": {"job": template}},
    }])  # fmt: skip
    admin.events.put_rule(ACCOUNT, "deploy", approved)
    admin.events.put_targets(ACCOUNT, "deploy", [{
        "id": "swap", "type": "internal",
        "config": {"handler": "serving.deploy_approved",
                   "options": {"endpoint": "live", "group": "m"}},
    }])  # fmt: skip

    # Healthy traffic: the monitor passes.
    day1 = datetime.now(UTC)
    _traffic(admin, x[300:340], y[300:340], "day1")
    healthy = _monitor(app, admin, day1)
    assert healthy["status"] == "Completed", healthy["failure_reason"]

    # The world shifts: quality drops, the monitor records violations.
    day2 = datetime.now(UTC)
    _traffic(admin, x[340:400] * device, y[340:400], "day2")
    degraded = _monitor(app, admin, day2)
    assert degraded["status"] == "CompletedWithViolations"
    assert degraded["summary"]["metrics"]["accuracy"] < 0.95  # type: ignore[index]

    # The alarm evaluator, once this minute has closed, sees the low accuracy and fires.
    with unit_of_work(app.state.runtime.session_factory) as session:
        alarms.evaluate_all(session, datetime.now(UTC) + timedelta(minutes=1))
    assert admin.alarms.get(ACCOUNT, "accuracy-low")["state_value"] == "ALARM"

    # Its event starts the retraining job; the runner registers version 2.
    drain(dispatcher, lambda: len(list(admin.training.list_jobs(ACCOUNT))) == 1)
    assert runner.run_pending(app.state.runtime) == 1
    (job,) = admin.training.list_jobs(ACCOUNT)
    assert job["status"] == "Completed", job["failure_reason"]
    assert job["model_version"] == 2
    assert admin.registry.get_version(ACCOUNT, "m", 2)["approval_status"] == "PendingManualApproval"

    # Approval deploys it by rule; the new-device traffic is served well again.
    admin.registry.approve(ACCOUNT, "m", 2)
    drain(
        dispatcher,
        lambda: admin.serving.get_endpoint(ACCOUNT, "live")["variants"][0]["version"] == 2,
    )
    day3 = datetime.now(UTC)
    _traffic(admin, x[340:400] * device, y[340:400], "day3")
    recovered = _monitor(app, admin, day3)
    assert recovered["summary"]["metrics"]["accuracy"] >= 0.95  # type: ignore[index]
