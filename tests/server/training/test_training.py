"""Training jobs: real sklearn scripts run by the job runner, events that start and deploy."""

from __future__ import annotations

import pickle
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from sklearn.dummy import DummyClassifier

from mlgov import Client, Conflict, InvalidRequest, NotFound
from mlgov.server.events.dispatcher import Dispatcher
from mlgov.server.events.targets import Outgoing
from mlgov.server.training import runner
from mlgov.server.training.targets import start_job
from mlgov.settings import AuditSettings, DatabaseSettings, ServerSettings, Settings
from tests.server.events.conftest import FAST_EVENTS, drain

TRAIN = textwrap.dedent(
    """
    import json, os, pickle
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    params = json.loads(os.environ["MLGOV_PARAMETERS"])
    data = np.loadtxt(os.environ["MLGOV_TRAINING_DATA"], delimiter=",", skiprows=1)
    features, labels = data[:, :-1], data[:, -1].astype(int)
    model = LogisticRegression(C=params["C"]).fit(features, labels)
    with open(os.path.join(os.environ["MLGOV_MODEL_DIR"], "model.pkl"), "wb") as handle:
        pickle.dump(model, handle)
    with open(os.environ["MLGOV_OUTPUT"], "w") as handle:
        metrics = {"train_accuracy": model.score(features, labels), "note": "text is dropped"}
        json.dump(metrics, handle)
    print("trained on", len(labels), "rows")
    """
)
FUNCTION = textwrap.dedent(
    """
    import pickle
    from pathlib import Path
    import numpy as np
    from sklearn.tree import DecisionTreeClassifier

    def fit(train, evaluation, model_dir, params):
        data = np.loadtxt(train, delimiter=",", skiprows=1)
        model = DecisionTreeClassifier(max_depth=params["depth"], random_state=0)
        model.fit(data[:, :-1], data[:, -1].astype(int))
        Path(model_dir, "tree.pkl").write_bytes(pickle.dumps(model))
        return {"depth": params["depth"], "had_evaluation": evaluation is not None}
    """
)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database=DatabaseSettings(url=database_url, pool_size=4),
        server=ServerSettings(max_body_bytes=64 * 1024),
        audit=AuditSettings(digest_period_seconds=3600),
        events=FAST_EVENTS,
    )


@pytest.fixture
def dispatcher(app: FastAPI) -> Iterator[Dispatcher]:
    engine = Dispatcher(app.state.runtime)
    yield engine
    engine.close()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A linearly separable dataset split in two, the scripts, and a module for the function."""
    rng = np.random.default_rng(7)
    features = rng.normal(size=(120, 3))
    labels = (features @ np.array([1.5, -2.0, 0.5]) > 0).astype(int)
    out = {}
    for name, rows in (("train", slice(0, 80)), ("eval", slice(80, 120))):
        path = tmp_path / f"{name}.csv"
        lines = ["a,b,c,label"] + [
            ",".join(f"{v:.5f}" for v in f) + f",{y}"
            for f, y in zip(features[rows], labels[rows], strict=True)
        ]
        path.write_text("\n".join(lines) + "\n")
        out[name] = path
    out["script"] = tmp_path / "train.py"
    out["script"].write_text(TRAIN)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "trainer.py").write_text(FUNCTION)
    out["pkg"] = tmp_path / "pkg"
    return out


@pytest.fixture
def dev(admin: Client) -> str:
    admin.identity.create_account("fraud-dev", "dev")
    admin.registry.create_group("fraud-dev", "churn")
    return "fraud-dev"


def _run(app: FastAPI) -> int:
    return runner.run_pending(app.state.runtime)


def test_a_script_trains_and_registers_a_version_with_lineage(
    app: FastAPI, admin: Client, dev: str, files: dict[str, Path]
) -> None:
    job = admin.training.create_job(
        dev,
        "first",
        command=[sys.executable, str(files["script"])],
        training_data=files["train"],
        upload=True,
        hyperparameters={"C": 0.5},
        model_group="churn",
    )
    assert job["status"] == "Pending" and job["training_data"]["filename"] == "train.csv"
    assert _run(app) == 1
    done = admin.training.get_job(dev, "first")
    assert done["status"] == "Completed", done["failure_reason"]
    assert done["exit_code"] == 0 and done["model_version"] == 1
    assert done["metrics"]["train_accuracy"] > 0.9
    assert done["comparison_status"] == "Skipped"  # no evaluation data

    version = admin.registry.get_version(dev, "churn", 1)
    assert version["approval_status"] == "PendingManualApproval"
    assert version["flavor"] == "sklearn"
    assert version["parameters"] == {"C": 0.5}
    assert version["metrics"] == {"train_accuracy": done["metrics"]["train_accuracy"]}
    lineage = version["lineage"]
    assert lineage["training_job"].endswith(":training-job/first")
    sha = job["training_data"]["artifact_sha256"]
    assert lineage["datasets"] == [{"uri": f"mlgov:registry:{job['account_id']}:artifact/{sha}",
                                    "sha256": sha}]  # fmt: skip
    assert "trained on 80 rows" in admin.training.logs(dev, "first")
    assert admin.training.logs(dev, "first", stream="stderr") == ""
    # The artifact is the model the script wrote: it loads and predicts.
    target = files["train"].parent / "downloaded.pkl"
    admin.registry.download_artifact(dev, "churn", 1, target)
    model = pickle.loads(target.read_bytes())
    assert model.predict(np.zeros((1, 3))).shape == (1,)


def test_a_function_is_compared_with_the_champion(
    app: FastAPI, admin: Client, dev: str, files: dict[str, Path]
) -> None:
    constant = DummyClassifier(strategy="constant", constant=0).fit([[0, 0, 0]], [0])
    admin.registry.create_version(dev, "churn", flavor="sklearn", artifact=pickle.dumps(constant))
    admin.registry.set_alias(dev, "churn", "champion", 1)
    admin.training.create_job(
        dev,
        "tree",
        function="trainer:fit",
        python_path=[str(files["pkg"])],
        training_data=str(files["train"]),  # a path the server reads
        evaluation_data=str(files["eval"]),
        hyperparameters={"depth": 3},
        model_group="churn",
    )
    _run(app)
    job = admin.training.get_job(dev, "tree")
    assert job["status"] == "Completed", job["failure_reason"]
    assert job["metrics"] == {"depth": 3, "had_evaluation": True}
    assert [d["uri"] for d in job["datasets"]] == [str(files["train"]), str(files["eval"])]

    comparison = admin.training.comparison(dev, "tree")
    assert comparison["status"] == "Completed"
    report = comparison["report"]
    assert report["problem_type"] == "BinaryClassification" and report["evaluation_rows"] == 40
    assert report["champion"]["version"] == 1
    accuracy = report["comparison"]["accuracy"]
    assert accuracy["candidate"] > accuracy["champion"] and accuracy["candidate_better"] is True
    assert report["summary"]["verdict"] == "better"

    version = admin.registry.get_version(dev, "churn", 2)
    assert version["tags"]["comparison.verdict"] == "better"
    assert version["tags"]["comparison.champion_version"] == "1"
    assert version["metrics"]["comparison.candidate"] == accuracy["candidate"]
    assert version["metrics"]["comparison.champion"] == accuracy["champion"]


def test_a_failing_script_fails_with_its_reason_and_logs(
    app: FastAPI, admin: Client, dev: str, files: dict[str, Path]
) -> None:
    script = files["train"].parent / "broken.py"
    script.write_text("print('starting')\nraise SystemExit('the data is all wrong')\n")
    admin.training.create_job(
        dev,
        "broken",
        command=[sys.executable, str(script)],
        training_data=str(files["train"]),
        model_group="churn",
    )
    _run(app)
    job = admin.training.get_job(dev, "broken")
    assert job["status"] == "Failed" and job["exit_code"] == 1
    assert job["failure_reason"] == "the entrypoint exited with code 1: the data is all wrong"
    assert job["model_version"] is None
    assert admin.training.logs(dev, "broken") == "starting\n"
    assert "the data is all wrong" in admin.training.logs(dev, "broken", stream="stderr")
    assert list(admin.registry.list_versions(dev, "churn")) == []

    # Succeeding without writing a model is a failure too.
    admin.training.create_job(
        dev,
        "modelless",
        command=[sys.executable, "-c", "print('nothing saved')"],
        training_data=str(files["train"]),
        model_group="churn",
    )
    _run(app)
    job = admin.training.get_job(dev, "modelless")
    assert job["status"] == "Failed" and job["exit_code"] == 0
    assert "wrote no model file" in job["failure_reason"]


def test_a_job_past_its_timeout_is_killed(
    app: FastAPI, admin: Client, dev: str, files: dict[str, Path]
) -> None:
    admin.training.create_job(
        dev,
        "slow",
        command=[
            sys.executable,
            "-c",
            "import time; print('sleeping', flush=True); time.sleep(60)",
        ],
        training_data=str(files["train"]),
        model_group="churn",
        timeout_seconds=1,
    )
    started = time.monotonic()
    _run(app)
    assert time.monotonic() - started < 10
    job = admin.training.get_job(dev, "slow")
    assert job["status"] == "Stopped"
    assert job["failure_reason"].startswith("MaxRuntimeExceeded")
    assert "sleeping" in admin.training.logs(dev, "slow")


def test_stop_and_bad_input(admin: Client, dev: str, files: dict[str, Path]) -> None:
    def create(name: str, **extra: object) -> dict[str, object]:
        fields: dict[str, object] = {
            "command": ["true"],
            "training_data": str(files["train"]),
            "model_group": "churn",
            **extra,
        }
        return admin.training.create_job(dev, name, **fields)  # type: ignore[arg-type]

    create("pending")
    assert admin.training.stop_job(dev, "pending")["status"] == "Stopped"
    with pytest.raises(Conflict) as refused:
        admin.training.stop_job(dev, "pending")
    assert refused.value.code == "TRAINING_JOB_NOT_STOPPABLE"
    with pytest.raises(Conflict):
        create("pending")
    with pytest.raises(NotFound) as missing:
        admin.training.get_job(dev, "nope")
    assert missing.value.code == "TRAINING_JOB_NOT_FOUND"
    with pytest.raises(NotFound) as no_group:
        create("x", model_group="ghost")
    assert no_group.value.code == "MODEL_GROUP_NOT_FOUND"
    with pytest.raises(NotFound) as no_data:
        create("x", training_data={"artifact_sha256": "0" * 64})
    assert no_data.value.code == "ARTIFACT_NOT_FOUND"
    for bad in (
        {"function": "not a function"},
        {"function": "m:f"},  # with the command: one of the two
        {"environment": {"MLGOV_MODEL_DIR": "/etc"}},
        {"timeout_seconds": 0},
        {"training_data": {"uri": "/x", "artifact_sha256": "0" * 64}},
        {"flavor": "tensorflow"},
    ):
        with pytest.raises(InvalidRequest):
            create("x", **bad)
    assert [j["name"] for j in admin.training.list_jobs(dev, status="Stopped")] == ["pending"]


def test_an_event_starts_a_job_once_and_its_version_names_the_event(
    app: FastAPI, admin: Client, dev: str, files: dict[str, Path], dispatcher: Dispatcher
) -> None:
    # A stand-in training step that needs no import of sklearn in the job: it ships a model.
    prebuilt = files["train"].parent / "prebuilt.pkl"
    prebuilt.write_bytes(
        pickle.dumps(DummyClassifier(strategy="most_frequent").fit([[0] * 3], [1]))
    )
    copy = f"import os, shutil; shutil.copy({str(prebuilt)!r}, os.environ['MLGOV_MODEL_DIR'])"
    template = {
        "entrypoint": {"command": [sys.executable, "-c", copy]},
        "training_data": {"uri": str(files["train"])},
        "evaluation_data": {"uri": str(files["eval"])},
        "hyperparameters": {"C": 1.0},
        "model_group": "churn",
    }
    admin.events.put_rule(
        dev,
        "retrain",
        {
            "source": ["mlgov.alarms"],
            "detail-type": ["Alarm State Change"],
            "detail": {"alarmName": ["accuracy-low"], "state": {"value": ["ALARM"]}},
        },
    )
    admin.events.put_targets(
        dev,
        "retrain",
        [
            {
                "id": "train",
                "type": "internal",
                "config": {"handler": "training.start_job", "options": {"job": template}},
            }
        ],
    )
    admin.alarms.put_metric_alarm(
        dev,
        "accuracy-low",
        namespace="mlgov/ModelQuality",
        metric_name="accuracy",
        statistic="Average",
        threshold=0.9,
        comparison_operator="LessThanThreshold",
    )
    admin.alarms.set_state(dev, "accuracy-low", "ALARM", "accuracy dropped")  # alarm -> rule
    drain(dispatcher, lambda: len(list(admin.training.list_jobs(dev))) == 1)
    (job,) = admin.training.list_jobs(dev)
    event_id = job["triggered_by_event"]
    assert job["name"].startswith("retrain-") and event_id
    assert job["created_by"] == "rule/retrain"

    # At least once: a redelivery of the same event starts nothing new.
    outgoing = Outgoing(
        event_id=event_id,
        event={},
        body={},
        config={"handler": "training.start_job", "options": {"job": template}},
        secret=None,
        rule_name="retrain",
        account_id=job["account_id"],
        runtime=app.state.runtime,
    )
    start_job(outgoing)
    assert len(list(admin.training.list_jobs(dev))) == 1

    _run(app)
    version = admin.registry.get_version(dev, "churn", 1)
    assert version["lineage"]["triggered_by_event"] == event_id
    assert version["created_by"] == "rule/retrain"
    assert admin.training.comparison(dev, job["name"])["summary"]["verdict"] == "no-champion"


def test_approving_a_version_updates_the_endpoint_by_rule(
    app: FastAPI, admin: Client, dev: str, dispatcher: Dispatcher
) -> None:
    model = pickle.dumps(DummyClassifier(strategy="constant", constant=1).fit([[0]], [1]))
    admin.registry.update_settings(dev, four_eyes=False)
    admin.registry.create_version(dev, "churn", flavor="sklearn", artifact=model)
    admin.registry.approve(dev, "churn", 1)
    admin.serving.create_endpoint(dev, "live", [{"group": "churn", "version": 1}])
    admin.events.put_rule(
        dev,
        "deploy",
        {
            "source": ["mlgov.registry"],
            "detail-type": ["Model Version State Change"],
            "detail": {"ModelApprovalStatus": ["Approved"]},
        },
    )
    admin.events.put_targets(
        dev,
        "deploy",
        [
            {
                "id": "swap",
                "type": "internal",
                "config": {
                    "handler": "serving.deploy_approved",
                    "options": {"endpoint": "live", "group": "churn", "alias": "champion"},
                },
            }
        ],
    )
    admin.registry.create_version(dev, "churn", flavor="sklearn", artifact=model)
    drain(dispatcher, lambda: dispatcher.run_once() == 0)  # the Created event: no deployment
    assert admin.serving.get_endpoint(dev, "live")["variants"][0]["version"] == 1

    admin.registry.approve(dev, "churn", 2)

    def swapped() -> bool:
        return bool(admin.serving.get_endpoint(dev, "live")["variants"][0]["version"] == 2)

    drain(dispatcher, swapped)
    endpoint = admin.serving.get_endpoint(dev, "live")
    assert [(v["name"], v["version"]) for v in endpoint["variants"]] == [("churn-2", 2)]
    assert {a["name"]: a["version"] for a in admin.registry.aliases(dev, "churn")} == {
        "champion": 2
    }
    assert admin.serving.invoke(dev, "live", [[0.0]])["variant"] == "churn-2"
