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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
    live_x: np.ndarray
    live_y: np.ndarray


def load_data() -> Data:
    dataset = load_breast_cancer()
    rng = np.random.default_rng(7)
    order = rng.permutation(len(dataset.target))
    x, y = dataset.data[order], dataset.target[order]
    cut = 380
    features = [name.replace(" ", "_") for name in dataset.feature_names]
    return Data(features, x[:cut], y[:cut], x[cut:], y[cut:])


def train(x: np.ndarray, y: np.ndarray) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)


@contextmanager
def running_server(port: int, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    log = open(HOME / "server.log", "wb")  # noqa: SIM115  # closed with the process
    server = subprocess.Popen(
        [MLGOV, "server", "--port", str(port)], env=env, stdout=log, stderr=log
    )
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
            answer = world.ops.serving.invoke(
                "fraud-prod", "cancer", [row.tolist()], inference_id=inference_id
            )
            correct += int(answer["predictions"][0] == truth_label)
            truth[inference_id] = int(truth_label)
            progress.advance(task)
    world.ops.serving.put_ground_truth("fraud-prod", "cancer", truth)
    return correct / len(rows)


def shift(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The world changes: the measurements drift (a new device reads larger and noisier)."""
    return rows * rng.uniform(1.4, 2.2, size=rows.shape[1]) + rng.normal(0, 0.1, size=rows.shape)


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
    verified = world.admin.audit.verify()
    note(
        f"audit trail: {verified['records_checked']} records, "
        f"{'intact' if verified['valid'] else 'BROKEN'}"
    )


def explore(world: World) -> None:
    step("Explore")
    # The admin key goes into the demo home's CLI profile, so plain `mlgov` commands just work.
    save_profile("default", world.url, world.keys["admin"], HOME / "config.toml")
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
    shutil.rmtree(HOME, ignore_errors=True)
    HOME.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "MLGOV_HOME": str(HOME),
        "MLGOV_EVENTS__DISPATCH_INTERVAL_SECONDS": "0.2",
        "MLGOV_SERVING__METRICS_FLUSH_SECONDS": "2",
        "MLGOV_SERVING__CAPTURE_FLUSH_SECONDS": "0.5",
    }
    data = load_data()
    rng = np.random.default_rng(11)

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

        step("Traffic with inference ids, then ground truth")
        healthy = send_traffic(world, data, data.live_x, data.live_y, "day1", "healthy traffic")
        note(f"accuracy on live traffic: {healthy:.1%}")

        step("The world shifts")
        drifted = shift(data.live_x, rng)
        degraded = send_traffic(world, data, drifted, data.live_y, "day2", "shifted traffic")
        note(f"accuracy on shifted traffic: {degraded:.1%}")

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
