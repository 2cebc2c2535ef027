"""Endpoints end to end: deploy, invoke, blue/green, A/B, capture, ground truth, refusals."""

from __future__ import annotations

import contextlib
import json
import pickle
import threading
from collections import Counter
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from mlgov import Client
from mlgov.errors import AccessDenied, Conflict, InvalidRequest, NotFound, PreconditionFailed
from mlgov.formats.capture import CaptureRecord
from mlgov.server.app import create_app
from mlgov.settings import Settings
from tests.server.conftest import Team

X, Y = load_iris(return_X_y=True)
LOGISTIC = LogisticRegression(max_iter=500).fit(X, Y)
TREE = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X, Y)
SIGNATURE = {"inputs": [{"name": n} for n in ("sl", "sw", "pl", "pw")], "outputs": []}


def _register(client: Client, account: str, model: object, group: str = "iris") -> int:
    with contextlib.suppress(Conflict):  # the group is there already
        client.registry.create_group(account, group)
    version = client.registry.create_version(
        account, group, flavor="sklearn", artifact=pickle.dumps(model), signature=SIGNATURE
    )
    return int(version["version"])


def test_deploy_and_invoke_csv_and_json(admin: Client) -> None:
    admin.identity.create_account("fraud-dev", "dev")
    _register(admin, "fraud-dev", LOGISTIC)
    created = admin.serving.create_endpoint("fraud-dev", "iris", [{"group": "iris", "version": 1}])
    assert created["variants"][0]["name"] == "iris-1"
    expected = LOGISTIC.predict(X[:5]).tolist()

    as_json = admin.serving.invoke("fraud-dev", "iris", X[:5].tolist())
    assert as_json["predictions"] == expected and as_json["variant"] == "iris-1"
    csv_body = "\n".join(",".join(str(v) for v in row) for row in X[:5])
    as_csv = admin.serving.invoke(
        "fraud-dev", "iris", body=csv_body, content_type="text/csv", accept="text/csv"
    )
    assert [int(line) for line in as_csv["predictions"].split()] == expected
    keyed = [dict(zip(("sl", "sw", "pl", "pw"), row, strict=True)) for row in X[:5].tolist()]
    assert admin.serving.invoke("fraud-dev", "iris", keyed)["predictions"] == expected

    with pytest.raises(InvalidRequest) as error:
        admin.serving.invoke("fraud-dev", "iris", [[1.0, 2.0]])  # 2 features, not 4
    assert error.value.code == "MODEL_ERROR"
    with pytest.raises(InvalidRequest) as error:
        admin.serving.invoke("fraud-dev", "iris", body="1,x", content_type="text/csv")
    assert error.value.code == "INVALID_DATA"
    with pytest.raises(NotFound):
        admin.serving.invoke("fraud-dev", "nope", [[1, 2, 3, 4]])


def test_an_endpoint_may_not_take_a_transform_jobs_capture_name(admin: Client) -> None:
    admin.identity.create_account("fraud-dev", "dev")
    _register(admin, "fraud-dev", LOGISTIC)
    for name in ("transform-job-nightly", "Transform-Job-x"):
        with pytest.raises(InvalidRequest) as error:
            admin.serving.create_endpoint("fraud-dev", name, [{"group": "iris", "version": 1}])
        assert "transform-job-" in str(error.value)
    # Only the prefix is reserved.
    admin.serving.create_endpoint("fraud-dev", "transform-jobs", [{"group": "iris", "version": 1}])


def test_prod_serves_only_approved_versions_and_bad_artifacts_never_deploy(team: Team) -> None:
    version = _register(team.scientist, "fraud-dev", LOGISTIC)
    team.approver.registry.approve("fraud-dev", "iris", version)
    team.engineer.registry.promote("fraud-dev", "iris", version, "fraud-prod")
    with pytest.raises(PreconditionFailed) as refused:
        team.engineer.serving.create_endpoint(
            "fraud-prod", "iris", [{"group": "iris", "version": 1}]
        )
    assert refused.value.code == "DEPLOYMENT_REFUSED"
    assert "PendingManualApproval" in refused.value.message
    team.approver.registry.approve("fraud-prod", "iris", 1)
    team.engineer.serving.create_endpoint("fraud-prod", "iris", [{"group": "iris", "version": 1}])
    assert team.engineer.serving.invoke("fraud-prod", "iris", X[:1].tolist())["predictions"] == [0]

    team.scientist.registry.create_version("fraud-dev", "iris", flavor="sklearn", artifact=b"junk")
    with pytest.raises(InvalidRequest) as bad:
        team.engineer.serving.create_endpoint(
            "fraud-dev", "junk", [{"group": "iris", "version": 2}]
        )
    assert bad.value.code == "INVALID_MODEL_ARTIFACT"
    with pytest.raises(NotFound):
        team.engineer.serving.get_endpoint("fraud-dev", "junk")
    # A DataScientist may register models but not run endpoints.
    with pytest.raises(AccessDenied):
        team.scientist.serving.create_endpoint("fraud-dev", "x", [{"group": "iris", "version": 1}])


def test_blue_green_update_fails_no_request(admin: Client, app: FastAPI) -> None:
    admin.identity.create_account("fraud-dev", "dev")
    _register(admin, "fraud-dev", LOGISTIC)
    _register(admin, "fraud-dev", TREE)
    admin.serving.create_endpoint("fraud-dev", "iris", [{"group": "iris", "version": 1}])
    failures: list[Exception] = []
    variants: Counter[str] = Counter()
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            try:
                variants[admin.serving.invoke("fraud-dev", "iris", X[:3].tolist())["variant"]] += 1
            except Exception as exc:
                failures.append(exc)

    workers = [threading.Thread(target=traffic) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        while sum(variants.values()) < 10:
            pass
        updated = admin.serving.update_endpoint(
            "fraud-dev", "iris", variants=[{"group": "iris", "version": 2}]
        )
        assert updated["revision"] == 2
        after = sum(variants.values())
        while sum(variants.values()) < after + 10:
            pass
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert failures == []
    assert variants["iris-1"] > 0 and variants["iris-2"] > 0
    assert admin.serving.invoke("fraud-dev", "iris", X[:3].tolist())["predictions"] == (
        TREE.predict(X[:3]).tolist()
    )


def test_weighted_variants_and_targeting(admin: Client) -> None:
    admin.identity.create_account("fraud-dev", "dev")
    _register(admin, "fraud-dev", LOGISTIC)
    _register(admin, "fraud-dev", TREE)
    admin.serving.create_endpoint(
        "fraud-dev",
        "ab",
        [
            {"group": "iris", "version": 1, "weight": 1, "name": "blue"},
            {"group": "iris", "version": 2, "weight": 3, "name": "green"},
        ],
    )
    seen = Counter(
        admin.serving.invoke("fraud-dev", "ab", [X[0].tolist()])["variant"] for _ in range(400)
    )
    # 300 expected for green; 5 standard deviations of a binomial(400, 0.75) is about 43.
    assert abs(seen["green"] - 300) < 45, seen
    assert (
        admin.serving.invoke("fraud-dev", "ab", [X[0].tolist()], target_variant="blue")["variant"]
        == "blue"
    )
    with pytest.raises(InvalidRequest):
        admin.serving.invoke("fraud-dev", "ab", [X[0].tolist()], target_variant="red")


def _capture_lines(app: FastAPI, account_id: str) -> list[CaptureRecord]:
    runtime = app.state.runtime
    runtime.capture.flush()
    root = Path(runtime.settings.blob_url) / "capture" / account_id
    return [
        CaptureRecord.model_validate_json(line)
        for path in sorted(root.rglob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def test_capture_in_the_sagemaker_layout_with_sampling(admin: Client, app: FastAPI) -> None:
    account = admin.identity.create_account("fraud-dev", "dev")
    _register(admin, "fraud-dev", LOGISTIC)
    admin.serving.create_endpoint(
        "fraud-dev", "iris", [{"group": "iris", "version": 1}], capture={"enabled": True}
    )
    answers = [
        admin.serving.invoke("fraud-dev", "iris", [X[i].tolist()], inference_id=f"inf-{i}")
        for i in range(5)
    ]
    assert all(a["captured"] for a in answers)
    records = _capture_lines(app, account["id"])
    assert [r.event_metadata.inference_id for r in records] == [f"inf-{i}" for i in range(5)]
    first = records[0]
    assert first.event_metadata.event_id == answers[0]["event_id"]
    assert first.endpoint_input is not None and first.endpoint_output is not None
    assert first.endpoint_input.encoding == "JSON"
    assert json.loads(first.endpoint_input.data) == {"instances": [X[0].tolist()]}
    assert json.loads(first.endpoint_output.data) == {"predictions": [0]}

    admin.serving.update_endpoint(
        "fraud-dev", "iris", capture={"enabled": True, "sampling_percentage": 0}
    )
    assert not admin.serving.invoke("fraud-dev", "iris", [X[0].tolist()])["captured"]
    admin.serving.update_endpoint(
        "fraud-dev", "iris", capture={"enabled": True, "capture_output": False}
    )
    admin.serving.invoke("fraud-dev", "iris", [X[0].tolist()], inference_id="input-only")
    last = _capture_lines(app, account["id"])[-1]
    assert last.event_metadata.inference_id == "input-only" and last.endpoint_output is None


def test_ground_truth_is_stored_by_arrival_hour(admin: Client, app: FastAPI) -> None:
    admin.identity.create_account("fraud-dev", "dev")
    _register(admin, "fraud-dev", LOGISTIC)
    admin.serving.create_endpoint("fraud-dev", "iris", [{"group": "iris", "version": 1}])
    stored = admin.serving.put_ground_truth("fraud-dev", "iris", {"inf-1": 0, "inf-2": 2})
    assert stored["records"] == 2
    path = Path(app.state.runtime.settings.blob_url) / stored["path"]
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["eventMetadata"]["eventId"] for line in lines] == ["inf-1", "inf-2"]
    with pytest.raises(InvalidRequest) as bad:
        admin.serving.put_ground_truth("fraud-dev", "iris", [{"groundTruthData": {"data": "1"}}])
    assert bad.value.code == "INVALID_DATA"


def test_invocation_data_stays_out_of_the_audit_trail(admin: Client) -> None:
    admin.identity.create_account("fraud-dev", "dev")
    _register(admin, "fraud-dev", LOGISTIC)
    admin.serving.create_endpoint("fraud-dev", "iris", [{"group": "iris", "version": 1}])
    # A value no timestamp or id in the record can contain by chance ("5.1" once matched the
    # event time's seconds, 25.184251).
    answer = admin.serving.invoke("fraud-dev", "iris", [[5.0123456789, 3.5, 1.4, 0.2]])
    record = next(r for r in admin.audit.records() if r["eventName"] == "InvokeEndpoint")
    body = record["requestParameters"]["body"]
    assert set(body) == {"bytes", "content_type"} and "5.0123456789" not in json.dumps(record)
    # The predictions are the answer's data: the record keeps their size and type only.
    assert set(record["responseElements"]) == {"bytes", "content_type"}
    assert record["responseElements"]["content_type"].startswith("application/json")
    assert "predictions" not in json.dumps(record), answer


def test_endpoint_lifecycle_and_events(admin: Client, app: FastAPI) -> None:
    admin.identity.create_account("fraud-dev", "dev")
    _register(admin, "fraud-dev", LOGISTIC)
    admin.serving.create_endpoint("fraud-dev", "iris", [{"group": "iris", "version": 1}])
    assert [e["name"] for e in admin.serving.list_endpoints("fraud-dev")] == ["iris"]
    admin.serving.delete_endpoint("fraud-dev", "iris")
    assert list(admin.serving.list_endpoints("fraud-dev")) == []
    from sqlalchemy import select

    from mlgov.server.kit.outbox import OutboxEvent

    with app.state.runtime.session_factory() as session:
        changes = [
            json.loads(row.body)["detail"]["change"]
            for row in session.execute(
                select(OutboxEvent).where(OutboxEvent.source == "mlgov.serving")
            ).scalars()
        ]
    assert changes == ["Created", "Deleted"]


def test_a_server_process_without_workers_ships_its_own_endpoint_metrics(
    admin: Client, settings: Settings, admin_token: str
) -> None:
    """Each process counts the invocations it served; an API replica (`--no-workers`, or one of
    `mlgov server --processes N`) ships them itself, at the latest when it stops."""
    from datetime import UTC, datetime, timedelta

    admin.identity.create_account("fraud-dev", "dev")
    _register(admin, "fraud-dev", LOGISTIC)
    admin.serving.create_endpoint("fraud-dev", "iris", [{"group": "iris", "version": 1}])
    replica = create_app(settings, run_workers=False, checkpoints=False)
    with TestClient(replica) as http:
        replica_client = Client(api_key=admin_token, http_client=http)
        for i in range(3):
            replica_client.serving.invoke("fraud-dev", "iris", [X[i].tolist()])
    now = datetime.now(UTC)
    points = admin.metrics.statistics(
        "fraud-dev",
        "mlgov/Serving",
        "Invocations",
        statistics=["Sum"],
        dimensions={"EndpointName": "iris", "VariantName": "iris-1"},
        start_time=now - timedelta(minutes=5),
        end_time=now + timedelta(minutes=2),
    )["datapoints"]
    assert sum(p["sum"] for p in points) == 3


def test_endpoint_metrics_reach_the_metrics_store(admin: Client, app: FastAPI) -> None:
    from datetime import UTC, datetime, timedelta

    from mlgov.server.workers.endpoint_metrics import ship_once

    admin.identity.create_account("fraud-dev", "dev")
    _register(admin, "fraud-dev", LOGISTIC)
    admin.serving.create_endpoint("fraud-dev", "iris", [{"group": "iris", "version": 1}])
    for i in range(20):
        admin.serving.invoke("fraud-dev", "iris", [X[i].tolist()])
    with pytest.raises(InvalidRequest):
        admin.serving.invoke("fraud-dev", "iris", [[1.0]])
    assert ship_once(app.state.runtime) > 0
    assert ship_once(app.state.runtime) == 0  # drained

    now = datetime.now(UTC)
    window = {"start_time": now - timedelta(minutes=5), "end_time": now + timedelta(minutes=2)}
    dims = {"EndpointName": "iris", "VariantName": "iris-1"}

    def total(name: str, dimensions: dict[str, str]) -> float:
        points = admin.metrics.statistics(
            "fraud-dev", "mlgov/Serving", name, statistics=["Sum"], dimensions=dimensions, **window
        )["datapoints"]
        return sum(p["sum"] for p in points)

    assert total("Invocations", dims) == 20
    assert total("Invocation4XXErrors", {"EndpointName": "iris", "VariantName": "-"}) == 1
    latency = admin.metrics.statistics(
        "fraud-dev", "mlgov/Serving", "ModelLatency",
        extended_statistics=["p50", "p99"], dimensions=dims, **window,
    )["datapoints"]  # fmt: skip
    assert latency and all(p["extended_statistics"]["p99"] > 0 for p in latency)
    names = {m["metric_name"] for m in admin.metrics.list("fraud-dev", namespace="mlgov/Serving")}
    assert {"CPUUtilization", "MemoryUtilization", "OverheadLatency"} <= names
