"""The end-to-end demo on embedded defaults (SQLite and local files), run by `make demo`.

A model is trained, registered, approved by a second principal, promoted and deployed with data
capture; traffic and ground truth flow in; then the world shifts, quality degrades, the monitor
records violations, the alarm fires and its event starts retraining; the new version is approved
and rolled out. The server stays up afterwards for exploring (``--exit`` stops it instead).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlgov
from mlgov.cli._connection import save_profile

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".demo"
PID_FILE = HOME / "server.pid"
MLGOV = str(Path(sys.executable).with_name("mlgov"))
console = Console(highlight=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class World:
    url: str
    admin: mlgov.Client
    alice: mlgov.Client  # DataScientist: trains and registers
    bob: mlgov.Client  # Approver: decides
    ops: mlgov.Client  # MLEngineer: promotes, deploys, operates
    keys: dict[str, str]


@dataclass
class Data:
    features: list[str]
    train_x: np.ndarray
    train_y: np.ndarray
    valid_x: np.ndarray
    valid_y: np.ndarray
    live_x: np.ndarray
    live_y: np.ndarray
    device: np.ndarray  # how the new device's readings scale each feature


def load_data() -> Data:
    dataset = load_breast_cancer()
    rng = np.random.default_rng(7)
    order = rng.permutation(len(dataset.target))
    x, y = dataset.data[order], dataset.target[order]
    features = [name.replace(" ", "_") for name in dataset.feature_names]
    device = rng.uniform(1.4, 2.2, size=x.shape[1])
    return Data(features, x[:300], y[:300], x[300:380], y[300:380], x[380:], y[380:], device)


def shift(rows: np.ndarray, data: Data) -> np.ndarray:
    """The world changes: a new device reads every measurement larger."""
    return rows * data.device


def csv_bytes(columns: list[str], *arrays: np.ndarray) -> bytes:
    table = np.column_stack(arrays)
    lines = [",".join(columns)] + [",".join(repr(float(v)) for v in row) for row in table]
    return ("\n".join(lines) + "\n").encode()


def train(x: np.ndarray, y: np.ndarray) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)


@contextmanager
def running_server(port: int, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    log = open(HOME / "server.log", "wb")  # noqa: SIM115  # closed with the process
    server = subprocess.Popen(
        [MLGOV, "server", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    PID_FILE.write_text(str(server.pid))
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit(f"the server did not start; see {HOME / 'server.log'}")
        yield server
    except BaseException:
        server.kill()
        raise


def stop_earlier_demo() -> None:
    """Stop a server left running by an earlier demo, so that a re-run starts clean."""
    try:
        pid = int(PID_FILE.read_text())
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"mlgov" not in command:  # the pid was reused by something else
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def step(title: str) -> None:
    console.print(f"\n[bold cyan]==> {title}[/]")


def note(text: str) -> None:
    console.print(f"    {text}")


def bootstrap(env: dict[str, str]) -> str:
    done = subprocess.run(
        [MLGOV, "init", "--organization", "demo-org", "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return str(json.loads(done.stdout)["api_key"])


def organize(url: str, admin_key: str) -> World:
    admin = mlgov.Client(url, api_key=admin_key)
    admin.identity.create_org_unit("workloads")
    admin.identity.create_account("fraud-dev", "dev", org_unit="workloads")
    admin.identity.create_account("fraud-prod", "prod", org_unit="workloads")
    roles = {
        "alice": [("DataScientist", "fraud-dev")],
        "bob": [("Approver", "fraud-dev"), ("Approver", "fraud-prod")],
        "ops": [("MLEngineer", "fraud-dev"), ("MLEngineer", "fraud-prod")],
    }
    keys = {"admin": admin_key}
    for name, bindings in roles.items():
        admin.identity.create_principal(name)
        for role, account in bindings:
            admin.identity.bind_role(name, role, account=account)
        keys[name] = admin.identity.create_key(name, description="demo")["secret"]
    clients = {name: mlgov.Client(url, api_key=keys[name]) for name in roles}
    return World(url=url, admin=admin, keys=keys, **clients)


def register(world: World, data: Data, model: Any, version_note: str, **lineage: Any) -> int:
    accuracy = float((model.predict(data.train_x) == data.train_y).mean())
    created = world.alice.registry.create_version(
        "fraud-dev",
        "cancer",
        flavor="sklearn",
        artifact=pickle.dumps(model),
        description=version_note,
        metrics={"train_accuracy": round(accuracy, 4)},
        signature={"inputs": [{"name": f, "type": "double"} for f in data.features]},
        lineage={"datasets": [{"uri": "sklearn://breast_cancer"}], **lineage},
    )
    return int(created["version"])


def approve_and_promote(world: World, version: int) -> int:
    world.bob.registry.approve("fraud-dev", "cancer", version, comment="validated offline")
    promoted = world.ops.registry.promote("fraud-dev", "cancer", version, "fraud-prod")
    number = int(promoted["version"])
    world.bob.registry.approve("fraud-prod", "cancer", number, comment="ready for prod")
    return number


def send_traffic(
    world: World, data: Data, rows: np.ndarray, labels: np.ndarray, prefix: str, label: str
) -> float:
    """Invoke the prod endpoint row by row with inference ids; send the true labels after."""
    correct = 0
    truth: dict[str, int] = {}
    with Progress(
        TextColumn(f"    {label}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(label, total=len(rows))
        for index, (row, truth_label) in enumerate(zip(rows, labels, strict=True)):
            inference_id = f"{prefix}-{index}"
            # CSV in and out, as SageMaker's containers talk: the capture's output column is _c0.
            answer = world.ops.serving.invoke(
                "fraud-prod",
                "cancer",
                body=",".join(repr(float(v)) for v in row),
                content_type="text/csv",
                accept="text/csv",
                inference_id=inference_id,
            )
            correct += int(float(answer["predictions"]) == truth_label)
            truth[inference_id] = int(truth_label)
            progress.advance(task)
    world.ops.serving.put_ground_truth("fraud-prod", "cancer", truth)
    return correct / len(rows)


ALARM_PATTERN = {
    "source": ["mlgov.alarms"],
    "detail-type": ["Alarm State Change"],
    "detail": {"alarmName": ["accuracy-low"], "state": {"value": ["ALARM"]}},
}


def watch(world: World, data: Data, model: Any) -> None:
    """A model-quality baseline and monitor, an alarm on its accuracy, and the loop's rules."""
    predictions = model.predict(data.valid_x)
    world.ops.monitoring.upload_dataset(
        "fraud-prod",
        "validation.csv",
        csv_bytes(["prediction", "label"], predictions, data.valid_y),
    )
    world.ops.monitoring.create_baseline(
        "fraud-prod",
        "quality",
        type="model_quality",
        dataset="validation.csv",
        model_quality={"problem_type": "BinaryClassification", "inference_attribute": "prediction"},
    )
    # As SageMaker users do, review the suggested constraints: validation was perfect, so leave
    # ten points of slack before a metric counts as a violation.
    statistics = world.ops.monitoring.download_baseline_file(
        "fraud-prod", "quality", "statistics.json"
    )
    constraints = world.ops.monitoring.download_baseline_file(
        "fraud-prod", "quality", "constraints.json"
    )
    for rule in constraints["binary_classification_constraints"].values():
        slack = -0.1 if rule["comparison_operator"].startswith("Less") else 0.1
        rule["threshold"] = round(rule["threshold"] + slack, 4)
    world.ops.monitoring.import_baseline(
        "fraud-prod",
        "quality-reviewed",
        type="model_quality",
        statistics=statistics,
        constraints=constraints,
    )
    world.ops.monitoring.create_monitor(
        "fraud-prod",
        "quality",
        "cancer",
        type="model_quality",
        baseline="quality-reviewed",
        schedule="rate(1 hour)",
        settings={
            "model_quality": {
                "problem_type": "BinaryClassification",
                "inference_attribute": "_c0",
            }
        },
    )
    world.ops.alarms.put_metric_alarm(
        "fraud-prod",
        "accuracy-low",
        namespace="mlgov/Monitoring",
        metric_name="accuracy",
        dimensions={"MonitorName": "quality", "EndpointName": "cancer"},
        statistic="Minimum",
        period=60,
        evaluation_periods=1,
        threshold=0.85,
        comparison_operator="LessThanThreshold",
        treat_missing_data="notBreaching",
    )
    # prod's alarm event goes to dev's bus (dev allows it), where a rule starts retraining.
    world.admin.events.permit("fraud-dev", "fraud-prod")
    world.ops.events.put_rule("fraud-prod", "alarm-to-dev", ALARM_PATTERN)
    world.ops.events.put_targets(
        "fraud-prod",
        "alarm-to-dev",
        [{"id": "dev", "type": "event-bus", "config": {"account": "fraud-dev"}}],
    )
    # Approval of a version in prod deploys it, blue/green, and moves the champion alias.
    world.ops.events.put_rule(
        "fraud-prod",
        "deploy-approved",
        {
            "source": ["mlgov.registry"],
            "detail-type": ["Model Version State Change"],
            "detail": {"ModelApprovalStatus": ["Approved"], "ModelPackageGroupName": ["cancer"]},
        },
    )
    world.ops.events.put_targets(
        "fraud-prod",
        "deploy-approved",
        [
            {
                "id": "deploy",
                "type": "internal",
                "config": {
                    "handler": "serving.deploy_approved",
                    "options": {"endpoint": "cancer", "group": "cancer", "alias": "champion"},
                },
            }
        ],
    )


def arm_retraining(world: World, data: Data) -> None:
    """In dev: newly labelled readings from the new device, and the rule that retrains on them."""
    columns = [*data.features, "label"]
    train = world.alice.registry.upload_artifact(
        "fraud-dev", csv_bytes(columns, shift(data.train_x, data), data.train_y)
    )
    evaluation = world.alice.registry.upload_artifact(
        "fraud-dev", csv_bytes(columns, shift(data.valid_x, data), data.valid_y)
    )
    template = {
        "entrypoint": {
            "function": "demo_training:fit",
            "python_path": [str(ROOT / "scripts")],
        },
        "training_data": {"artifact_sha256": train["sha256"], "filename": "train.csv"},
        "evaluation_data": {"artifact_sha256": evaluation["sha256"], "filename": "eval.csv"},
        "hyperparameters": {"max_iter": 1000},
        "model_group": "cancer",
        "comparison": {"label": "label", "problem_type": "BinaryClassification"},
    }
    world.ops.events.put_rule("fraud-dev", "retrain", ALARM_PATTERN)
    world.ops.events.put_targets(
        "fraud-dev",
        "retrain",
        [
            {
                "id": "train",
                "type": "internal",
                "config": {
                    "handler": "training.start_job",
                    "options": {"job": template, "name_prefix": "retrain"},
                },
            }
        ],
    )


def run_monitor(world: World, start: datetime, label: str) -> dict[str, Any]:
    started = world.ops.monitoring.start_execution(
        "fraud-prod",
        "quality",
        start=start,
        end=datetime.now(UTC) + timedelta(minutes=1),
        run_inline=True,
    )
    done = world.ops.monitoring.wait("fraud-prod", "quality", started["id"], poll_seconds=0.2)
    accuracy = (done.get("summary") or {}).get("metrics", {}).get("accuracy")
    shown = f", accuracy {accuracy:.1%}" if isinstance(accuracy, float) else ""
    note(f"monitor over {label}: {done['status']}, {done['violation_count']} violation(s){shown}")
    return done


def _comparison_line(comparison: dict[str, Any]) -> str:
    report = comparison.get("report") or comparison
    accuracy = {
        side: ((report.get(side) or {}).get("metrics") or {}).get("accuracy")
        for side in ("candidate", "champion")
    }
    if None in accuracy.values():
        return json.dumps(report)[:160]
    return f"accuracy {accuracy['candidate']:.1%} (new) vs {accuracy['champion']:.1%} (champion)"


def wait_for(what: str, check: Callable[[], Any], timeout: float = 150) -> Any:
    """Poll ``check`` until it returns something truthy, with a spinner and the time it took."""
    started = time.monotonic()
    with console.status(f"    waiting for {what} ...", spinner="dots"):
        while time.monotonic() - started < timeout:
            found = check()
            if found:
                note(f"{what}: after {time.monotonic() - started:.0f} s")
                return found
            time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}; see {HOME / 'server.log'}")


def summary(world: World) -> None:
    table = Table(title="mlgov demo: what happened", show_lines=False)
    for column in ("account", "group", "version", "status", "aliases"):
        table.add_column(column)
    for account in ("fraud-dev", "fraud-prod"):
        for version in world.admin.registry.search_versions(account):
            table.add_row(
                account,
                version["group"],
                str(version["version"]),
                version["approval_status"],
                ",".join(version["aliases"]),
            )
    console.print(table)
    endpoint = world.admin.serving.get_endpoint("fraud-prod", "cancer")
    variants = ", ".join(f"{v['group']} v{v['version']}" for v in endpoint["variants"])
    note(f"endpoint fraud-prod/cancer serves {variants} (revision {endpoint['revision']})")
    step("The model dashboard (mlgov dashboard)")
    save_profile("default", world.url, world.keys["admin"], HOME / "config.toml")
    board = subprocess.run(
        [MLGOV, "dashboard"],
        env={**os.environ, "MLGOV_HOME": str(HOME), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        check=True,
    )
    console.print(board.stdout.rstrip(), soft_wrap=True, markup=False)
    verified = world.admin.audit.verify()
    note(
        f"audit trail: {verified['records_checked']} records, "
        f"{'intact' if verified['valid'] else 'BROKEN'}"
    )


def explore(world: World) -> None:
    step("Explore")
    # The admin key is in the demo home's CLI profile, so plain `mlgov` commands just work.
    note(f"API docs  {world.url}/api/v1/docs")
    note(f"metrics   {world.url}/metrics")
    note(f"state     {HOME} (database, blobs, captures, audit key)")
    note(f"export MLGOV_HOME={HOME}   # then, for example:")
    for command in (
        "mlgov versions list -a fraud-prod",
        "mlgov endpoints get cancer -a fraud-prod",
        "mlgov alarms list -a fraud-prod",
        "mlgov events rules list -a fraud-prod",
        'mlgov audit query "SELECT principal_name, count(*) FROM audit_records GROUP BY 1"',
    ):
        note(f"  {command}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--exit", action="store_true", help="stop the server at the end")
    args = parser.parse_args()
    started = time.monotonic()
    stop_earlier_demo()
    shutil.rmtree(HOME, ignore_errors=True)
    HOME.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "MLGOV_HOME": str(HOME),
        "MLGOV_EVENTS__DISPATCH_INTERVAL_SECONDS": "0.2",
        "MLGOV_SERVING__METRICS_FLUSH_SECONDS": "2",
        "MLGOV_SERVING__CAPTURE_FLUSH_SECONDS": "0.5",
        "MLGOV_TELEMETRY__ALARM_EVALUATION_SECONDS": "5",
        "MLGOV_TRAINING__POLL_INTERVAL_SECONDS": "0.5",
    }
    data = load_data()

    step("Start the server on embedded defaults (SQLite, local files)")
    admin_key = bootstrap(env)
    with running_server(port, env) as server:
        url = f"http://127.0.0.1:{port}"
        note(f"server at {url}")
        world = organize(url, admin_key)
        note("organization demo-org: accounts fraud-dev (dev) and fraud-prod (prod)")
        note("alice DataScientist, bob Approver, ops MLEngineer; each with an API key")

        step("Train on scikit-learn's breast cancer data; register; approve; promote; deploy")
        world.alice.registry.create_group("fraud-dev", "cancer", "tumour classifier")
        model = train(data.train_x, data.train_y)
        version = register(world, data, model, "first model", training_job="demo-notebook")
        note(f"alice registered cancer v{version} (PendingManualApproval)")
        try:
            world.alice.registry.approve("fraud-dev", "cancer", version)
        except mlgov.AccessDenied as refused:
            note(f"alice may not approve: {refused.code}")
        prod_version = approve_and_promote(world, version)
        world.ops.registry.set_alias("fraud-prod", "cancer", "champion", prod_version)
        world.ops.serving.create_endpoint(
            "fraud-prod",
            "cancer",
            [{"group": "cancer", "version": prod_version}],
            capture={"enabled": True},
        )
        note(f"bob approved; ops promoted to fraud-prod v{prod_version} and deployed it")

        world.ops.registry.set_alias("fraud-dev", "cancer", "champion", version)

        step("Watch it: a model-quality baseline and monitor, an alarm, and the loop's rules")
        watch(world, data, model)
        arm_retraining(world, data)
        note("monitor fraud-prod/quality; alarm accuracy-low (accuracy < 85%)")
        note("rules: prod alarm -> dev bus -> retraining job; prod approval -> deploy")

        step("Day 1: traffic with inference ids, then ground truth")
        day1 = datetime.now(UTC)
        healthy = send_traffic(world, data, data.live_x, data.live_y, "day1", "day 1 traffic")
        note(f"accuracy on day 1 traffic: {healthy:.1%}")
        run_monitor(world, day1, "day 1")

        step("Day 2: a new device reads every measurement larger")
        day2 = datetime.now(UTC)
        drifted = shift(data.live_x, data)
        degraded = send_traffic(world, data, drifted, data.live_y, "day2", "day 2 traffic")
        note(f"accuracy on day 2 traffic: {degraded:.1%}")
        run_monitor(world, day2, "day 2")

        step("The alarm fires; its event crosses to dev and starts retraining")
        wait_for(
            "alarm accuracy-low in ALARM",
            lambda: world.ops.alarms.get("fraud-prod", "accuracy-low")["state_value"] == "ALARM",
        )
        job = wait_for(
            "the retraining job to finish",
            lambda: next(
                (
                    j
                    for j in world.ops.training.list_jobs("fraud-dev")
                    if j["status"] in ("Completed", "Failed", "Stopped")
                ),
                None,
            ),
        )
        if job["status"] != "Completed":
            raise SystemExit(f"retraining {job['status']}: {job['failure_reason']}")
        new_version = int(job["model_version"])
        comparison = world.ops.training.comparison("fraud-dev", job["name"])
        note(f"job {job['name']} registered cancer v{new_version} in fraud-dev")
        note(f"comparison on new-device data: {_comparison_line(comparison)}")

        step("A second principal approves; promotion; approval in prod deploys it")
        prod_new = approve_and_promote(world, new_version)
        wait_for(
            f"fraud-prod/cancer to serve v{prod_new}",
            lambda: (
                world.ops.serving.get_endpoint("fraud-prod", "cancer")["variants"][0]["version"]
                == prod_new
            ),
        )
        day3 = datetime.now(UTC)
        recovered = send_traffic(
            world, data, shift(data.live_x, data), data.live_y, "day3", "day 3 traffic"
        )
        note(f"accuracy on day 3 traffic: {recovered:.1%}")
        run_monitor(world, day3, "day 3")
        wait_for(
            "alarm accuracy-low back to OK (its next one-minute period)",
            lambda: world.ops.alarms.get("fraud-prod", "accuracy-low")["state_value"] == "OK",
        )

        summary(world)
        note(f"demo took {time.monotonic() - started:.0f} s")
        explore(world)
        if args.exit:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
            return
        console.print("\n[bold]The server keeps running; Ctrl-C stops it.[/]")
        try:
            server.wait()
        except KeyboardInterrupt:
            server.send_signal(signal.SIGTERM)
            server.wait(30)


if __name__ == "__main__":
    main()
