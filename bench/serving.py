"""Serving benchmark: invocations/s and p50/p99 latency, capture off and on, against MLflow.

One scikit-learn model (StandardScaler + LogisticRegression on the breast cancer data, 30
features) is served, in the same run, by:

- mlgov's in-server runtime (the embedded default: one uvicorn process on SQLite, every call
  authenticated and audited) on two endpoints of the same version, capture off and capture on
  (100 % sampling, input and output);
- the standalone per-endpoint process, ``mlgov endpoints serve NAME`` (``POST /invocations``),
  capture off and on (``--skip-standalone`` leaves it out);
- ``mlflow models serve --env-manager local -w 1`` on the same pickled model, saved with
  ``mlflow.sklearn.save_model`` inside ``.venv-mlflow`` (installed there on first use, with the
  same scikit-learn; ``--skip-mlflow`` leaves it out).

Each request scores one row, cycling through the dataset's rows. ``csv``: the row as a CSV line
(MLflow's scoring server reads CSV with pandas, so its body carries the header line it needs);
``json``: ``{"instances": [{column: value, ...}]}``, the same bytes for both (MLflow refuses an
unnamed ``inputs`` array against the column signature both servers have). ``--clients`` (16)
connections drive each server over 127.0.0.1, from ``wrk`` when installed (bench/_load.py);
after a warm-up, every row of the table is measured in ``--rounds`` slices of ``--seconds``,
interleaved with the other rows so that drift in a shared machine's load is spread over all of
them. The in-server pair, capture off and on, is
also measured at 1 client (the capture's cost per call without queueing in front of it) and
"mixed": half the clients call each of the two endpoints of the one server at once, so both
sides see the same queue and the same machine at the same moments (the steadiest comparison on a
shared machine). Prints requests/s, p50/p99, the server process tree's CPU per request (from
/proc: what a request costs whatever else the machine runs), the ratios and the verdicts against
the targets: capture adds under 1 ms at p99; mlgov serves at least 2x MLflow's requests/s. Also
times the capture path itself in process (record + buffered submit).

    python bench/serving.py [--seconds 3] [--rounds 4] [--clients 16] [--payload csv|json|both]
                            [--single-client-seconds 2] [--skip-mlflow] [--skip-standalone]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import sklearn
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from _load import Call, Result, driver, load
from _machine import Yardstick
from _server import Server, free_port, running_server
from mlgov import Client
from mlgov.server.capture.writer import CaptureWriter
from mlgov.server.serving import payloads
from mlgov.server.serving.service import Invocation, capture_record

ROOT = Path(__file__).resolve().parent.parent
MLFLOW_VENV = ROOT / ".venv-mlflow"
MLFLOW_VERSION = "3.17.2"  # as bench/registry.py
MLGOV = str(Path(sys.executable).with_name("mlgov"))
TARGET_CAPTURE_P99_MS = 1.0
TARGET_VS_MLFLOW = 2.0
QUIET_MLFLOW = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}

SAVE_MLFLOW_MODEL = """
import pickle, sys
import mlflow.sklearn
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema
source, target, columns, pin = sys.argv[1:5]
with open(source, "rb") as handle:
    model = pickle.load(handle)
signature = ModelSignature(inputs=Schema([ColSpec("double", c) for c in columns.split(",")]))
mlflow.sklearn.save_model(model, target, signature=signature, pip_requirements=[pin])
"""


# --- the model and the payloads ------------------------------------------------------------------


@dataclass
class Model:
    pickled: bytes
    columns: list[str]
    rows: np.ndarray
    expected: np.ndarray  # the model's predictions for rows, to check every server's answer


def train() -> Model:
    data = load_breast_cancer()
    columns = [name.replace(" ", "_") for name in data.feature_names]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(data.data, data.target)
    return Model(pickle.dumps(model), columns, data.data, model.predict(data.data))


def bodies(model: Model, payload: str, header: bool) -> tuple[list[bytes], str]:
    """One body per row of the dataset; ``header`` prefixes CSV with the column names."""
    if payload == "json":
        return [
            json.dumps(
                {"instances": [dict(zip(model.columns, map(float, row), strict=True))]}
            ).encode()
            for row in model.rows
        ], payloads.JSON
    prefix = ",".join(model.columns) + "\n" if header else ""
    return [
        (prefix + ",".join(repr(float(v)) for v in row) + "\n").encode() for row in model.rows
    ], payloads.CSV


# --- what is measured ----------------------------------------------------------------------------


@dataclass
class Target:
    system: str
    runtime: str
    capture: str  # "off", "on", or "-" (MLflow has none)
    url: str
    path: str
    headers: dict[str, str]
    pid: int = 0  # the server process; its CPU (and its children's) is counted per request
    csv_header: bool = False  # MLflow reads CSV with pandas: the first line is the header
    requests: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # server CPU seconds while measured
    round_p50: dict[str, list[float]] = field(default_factory=dict)  # ms, one per round
    round_p99: dict[str, list[float]] = field(default_factory=dict)


def _tree(root: int) -> list[int]:
    """``root`` and its descendants, from /proc (Linux only)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found = [root]
    for pid in found:
        found.extend(children.get(pid, []))
    return found


def cpu_seconds(root: int) -> float:
    """User + system CPU of a process tree so far: the server's cost, whatever else runs."""
    total = 0
    for pid in _tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def _prediction(answer: httpx.Response) -> float:
    if answer.headers.get("content-type", "").startswith("text/csv"):
        return float(answer.text.split()[0])
    document = answer.json()
    predictions = document["predictions"] if isinstance(document, dict) else document
    return float(np.ravel(predictions)[0])


def check(target: Target, model: Model, payload: str) -> None:
    """Every server answers the same predictions for the same rows (the same model)."""
    bodies_, content_type = bodies(model, payload, target.csv_header)
    headers = {**target.headers, "content-type": content_type}
    with httpx.Client(base_url=target.url, timeout=30) as client:
        for index in (0, 1, 2, 100, 568):
            answer = client.post(target.path, content=bodies_[index], headers=headers)
            if answer.status_code != 200:
                raise SystemExit(
                    f"{target.system} {target.runtime}, {payload}: {answer.status_code} "
                    f"{answer.text[:500]}"
                )
            got = _prediction(answer)
            if got != model.expected[index]:
                raise SystemExit(
                    f"{target.system} {target.runtime}: row {index} predicted {got}, "
                    f"expected {model.expected[index]}"
                )


def calls(target: Target, model: Model, payload: str) -> list[Call]:
    bodies_, content_type = bodies(model, payload, target.csv_header)
    return [Call(target.path, "POST", body, content_type) for body in bodies_]


def drive(
    target: Target, model: Model, payload: str, clients: int, seconds: float, warmup: float
) -> tuple[Result, float]:
    """``clients`` concurrent callers for ``warmup`` (not counted) then ``seconds``; the result
    and the server's CPU seconds while measured."""
    sent = calls(target, model, payload)
    if warmup > 0:
        load(target.url, sent, headers=target.headers, connections=clients, seconds=warmup)
    cpu_before = cpu_seconds(target.pid)
    result = load(target.url, sent, headers=target.headers, connections=clients, seconds=seconds)
    return result, cpu_seconds(target.pid) - cpu_before


def drive_mixed(
    pair: list[Target], model: Model, payload: str, clients: int, seconds: float
) -> list[Result]:
    """Both endpoints of one server at once, half the clients each: they see the same queue and
    the same machine at the same moments, so their latencies compare directly."""
    with ThreadPoolExecutor(len(pair)) as pool:
        running = [
            pool.submit(
                load,
                target.url,
                calls(target, model, payload),
                headers=target.headers,
                connections=max(1, clients // len(pair)),
                seconds=seconds,
            )
            for target in pair
        ]
        return [future.result() for future in running]


def record(target: Target, series: str, result: Result, cpu: float) -> None:
    target.requests[series] = target.requests.get(series, 0) + result.requests
    target.seconds[series] = target.seconds.get(series, 0.0) + result.seconds
    target.cpu[series] = target.cpu.get(series, 0.0) + cpu
    target.round_p50.setdefault(series, []).append(result.p50_ms)
    target.round_p99.setdefault(series, []).append(result.p99_ms)


def measure_mixed(
    pair: list[Target], model: Model, payload: str, clients: int, args: argparse.Namespace
) -> str:
    """Capture off and on in one stream of calls to the same server, ``--rounds`` times."""
    series = f"{payload}/{clients} mixed"
    for _ in range(args.rounds):
        found = drive_mixed(pair, model, payload, clients, args.seconds)
        for target, result in zip(pair, found, strict=True):
            record(target, series, result, float("nan"))  # one process serves both
    return series


def measure(
    targets: list[Target], model: Model, payload: str, clients: int, args: argparse.Namespace
) -> str:
    """Warm every target up, then measure them in interleaved rounds; returns the series key."""
    series = f"{payload}/{clients}"
    for target in targets:  # warm-up: models loaded, caches and connections hot
        load(
            target.url,
            calls(target, model, payload),
            headers=target.headers,
            connections=clients,
            seconds=args.warmup,
        )
    for round_ in range(args.rounds):
        shift = round_ % len(targets)  # rotate who goes first: no row always follows another
        for target in targets[shift:] + targets[:shift]:
            result, cpu = drive(target, model, payload, clients, args.seconds, 1.0)
            record(target, series, result, cpu)
    return series


@dataclass
class Stats:
    rate: float
    p50: float  # ms
    p99: float  # ms
    count: int
    cpu_ms: float  # server CPU per request


def stats(target: Target, series: str) -> Stats:
    """Rate over all rounds; p50 and p99 are the medians of the rounds' (each printed too)."""
    count = target.requests[series]
    return Stats(
        count / target.seconds[series],
        statistics.median(target.round_p50[series]),
        statistics.median(target.round_p99[series]),
        count,
        target.cpu[series] / count * 1000,
    )


# --- the servers ---------------------------------------------------------------------------------


def _wait(url: str, process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    for _ in range(1200):
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise SystemExit(f"{what} exited with {process.returncode}:\n{tail}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-2000:]
    raise SystemExit(f"{what} did not become ready in 120 s:\n{tail}")


@contextmanager
def process_group(
    command: list[str], env: dict[str, str], log: Path, ready_url: str, what: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A server started in a session of its own, stopped with its children (MLflow forks)."""
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait(ready_url, process, what, log)
        yield process
    finally:
        try:  # the group, even if its leader is gone: MLflow's uvicorn is a child
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def deploy(server: Server, model: Model) -> None:
    signature = {"inputs": [{"name": c, "type": "double"} for c in model.columns]}
    with Client(server.url, api_key=server.token) as client:
        client.registry.create_group("bench", "cancer", "serving benchmark")
        client.registry.create_version(
            "bench", "cancer", flavor="sklearn", artifact=model.pickled, signature=signature
        )
        variant = [{"group": "cancer", "version": 1}]
        client.serving.create_endpoint("bench", "plain", variant, capture={"enabled": False})
        client.serving.create_endpoint(
            "bench",
            "captured",
            variant,
            capture={"enabled": True, "sampling_percentage": 100},
        )


def mlgov_targets(server: Server) -> list[Target]:
    auth = {"authorization": f"Bearer {server.token}"}
    base = "/api/v1/accounts/bench/endpoints"
    return [
        Target(
            "mlgov",
            "in-server",
            capture,
            server.url,
            f"{base}/{name}/invocations",
            auth,
            pid=server.process.pid,
        )
        for name, capture in (("plain", "off"), ("captured", "on"))
    ]


def standalone_targets(server: Server, stack: ExitStack) -> list[Target]:
    auth = {"authorization": f"Bearer {server.token}"}
    env = {**os.environ, "MLGOV_HOME": str(server.home)}
    found = []
    for name, capture in (("plain", "off"), ("captured", "on")):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [MLGOV, "endpoints", "serve", name, "-a", "bench"]
        command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        log = server.home / f"serve-{name}.log"
        process = stack.enter_context(
            process_group(command, env, log, f"{url}/ping", f"serve {name}")
        )
        found.append(
            Target("mlgov", "endpoints serve", capture, url, "/invocations", auth, process.pid)
        )
    return found


def ensure_mlflow() -> Path | None:
    """``.venv-mlflow`` with MLflow and this venv's scikit-learn (the pickle must load there)."""
    python = MLFLOW_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
    versions = "import mlflow.pyfunc, sklearn; print(mlflow.__version__, sklearn.__version__)"
    probe = subprocess.run([str(python), "-c", versions], capture_output=True, text=True)
    if probe.stdout.split() != [MLFLOW_VERSION, sklearn.__version__]:
        pins = [f"mlflow=={MLFLOW_VERSION}", f"scikit-learn=={sklearn.__version__}"]
        print(f"installing {' '.join(pins)} into {MLFLOW_VENV} ...", file=sys.stderr)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *pins], capture_output=True
        )
        if done.returncode != 0:
            print(done.stderr.decode()[-2000:], file=sys.stderr)
            return None
    return MLFLOW_VENV / "bin" / "mlflow"


def mlflow_target(model: Model, stack: ExitStack) -> Target | None:
    executable = ensure_mlflow()
    if executable is None:
        return None
    scratch = Path(tempfile.mkdtemp(prefix="mlflow-bench-serving-"))
    stack.callback(shutil.rmtree, scratch, True)  # after the server stops (last in, first out)
    (scratch / "model.pkl").write_bytes(model.pickled)
    # MLflow runs `uvicorn` from PATH: its venv's bin comes first, as when the venv is active.
    path = f"{MLFLOW_VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, **QUIET_MLFLOW, "PATH": path, "VIRTUAL_ENV": str(MLFLOW_VENV)}
    pin = f"scikit-learn=={sklearn.__version__}"
    subprocess.run(
        [str(MLFLOW_VENV / "bin" / "python"), "-c", SAVE_MLFLOW_MODEL, str(scratch / "model.pkl"),
         str(scratch / "model"), ",".join(model.columns), pin],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(executable), "models", "serve", "-m", str(scratch / "model"),
        "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1",
    ]  # fmt: skip
    log = scratch / "serve.log"
    process = stack.enter_context(
        process_group(command, env, log, f"{url}/ping", "mlflow models serve")
    )
    return Target("MLflow", "models serve", "-", url, "/invocations", {}, process.pid, True)


# --- the capture path alone ----------------------------------------------------------------------


def capture_path_us(model: Model, calls: int = 20_000) -> tuple[float, float]:
    """p50/p99 in microseconds of what capture adds to an invocation in process: the record's
    JSON line and the buffered submit (as ``service.invoke`` does), with the writer flushing."""
    scratch = tempfile.mkdtemp(prefix="mlgov-bench-capture-")
    writer = CaptureWriter(scratch, flush_seconds=1.0)
    writer.start()
    body, _ = bodies(model, "csv", header=False)
    call = Invocation(body[0], payloads.CSV, payloads.CSV, None, None)
    config = {"enabled": True, "sampling_percentage": 100}
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        now = datetime.now(UTC)
        line = capture_record(call, b"1\n", str(uuid.uuid4()), now, config)
        writer.submit("account", "endpoint", line, now)
        times.append(time.perf_counter() - started)
    writer.close()
    shutil.rmtree(scratch, ignore_errors=True)
    ordered = sorted(times)
    return statistics.median(ordered) * 1e6, ordered[int(calls * 0.99) - 1] * 1e6


def lines_on_disk(home: Path) -> int:
    return sum(
        path.read_bytes().count(b"\n") for path in (home / "blobs" / "capture").rglob("*.jsonl")
    )


# --- report --------------------------------------------------------------------------------------


def report(targets: list[Target], series: list[str]) -> list[str]:
    lines = [
        "| system | runtime         | payload | clients  | capture |    req/s |  p50 ms |  p99 ms "
        "| server CPU ms/req |",
        "|--------|-----------------|---------|----------|---------|----------|---------|---------"
        "|-------------------|",
    ]
    measured: dict[tuple[str, str, str], Stats] = {}
    spread: dict[tuple[str, str, str], float] = {}  # how far p99 moved between rounds
    for key in series:
        payload, clients = key.split("/")
        for target in (t for t in targets if key in t.requests):
            s = stats(target, key)
            cpu_column = "-" if s.cpu_ms != s.cpu_ms else f"{s.cpu_ms:.2f}"  # NaN: not separable
            measured[(target.runtime, target.capture, key)] = s
            rounds = target.round_p99[key]
            spread[(target.runtime, target.capture, key)] = max(rounds) - min(rounds)
            lines.append(
                f"| {target.system:<6} | {target.runtime:<15} | {payload:<7} | {clients:>8} | "
                f"{target.capture:<7} | {s.rate:>8.0f} | {s.p50:>7.2f} | {s.p99:>7.2f} "
                f"| {cpu_column:>17} |"
            )
    lines.append("")
    for key in series:
        payload, clients = key.split("/")
        for runtime in ("in-server", "endpoints serve"):
            off = measured.get((runtime, "off", key))
            on = measured.get((runtime, "on", key))
            if off and on:
                added = on.p99 - off.p99
                verdict = "ok" if added < TARGET_CAPTURE_P99_MS else "MISSED"
                noise = spread[(runtime, "off", key)]
                line = (
                    f"capture adds, {runtime}, {payload}, {clients} clients: p99 {added:+.2f} ms, "
                    f"p50 {on.p50 - off.p50:+.2f} ms"
                )
                if on.cpu_ms == on.cpu_ms:  # not NaN: measured apart
                    line += (
                        f", req/s {on.rate / off.rate - 1:+.1%}, "
                        f"server CPU {on.cpu_ms - off.cpu_ms:+.3f} ms/req"
                    )
                line += f" (target p99 < {TARGET_CAPTURE_P99_MS:g} ms) {verdict}"
                if noise > TARGET_CAPTURE_P99_MS:
                    line += f" [noise: capture-off p99 moved {noise:.1f} ms between rounds]"
                lines.append(line)
    for key in series:
        payload, clients = key.split("/")
        theirs = measured.get(("models serve", "-", key))
        if theirs is None:
            continue
        for runtime in ("in-server", "endpoints serve"):
            for capture in ("off", "on"):
                ours = measured.get((runtime, capture, key))
                if ours is None:
                    continue
                ratio = ours.rate / theirs.rate
                verdict = "ok" if ratio >= TARGET_VS_MLFLOW else "MISSED"
                lines.append(
                    f"mlgov {runtime} (capture {capture}) / MLflow, {payload}, {clients} clients: "
                    f"{ratio:.2f}x req/s, p99 {theirs.p99 / ours.p99:.2f}x lower, "
                    f"server CPU per request {theirs.cpu_ms / ours.cpu_ms:.2f}x less "
                    f"(target >= {TARGET_VS_MLFLOW:g}x req/s) {verdict}"
                )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="per row per round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--payload", choices=("csv", "json", "both"), default="both")
    parser.add_argument(
        "--single-client-seconds",
        type=float,
        default=2.0,
        help="per round, in-server capture off/on at 1 client (0: skip)",
    )
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--skip-standalone", action="store_true")
    args = parser.parse_args()
    yardstick = Yardstick()
    payload_kinds = ["csv", "json"] if args.payload == "both" else [args.payload]

    started = time.perf_counter()
    load_before = os.getloadavg()
    model = train()
    with ExitStack() as stack:
        server = stack.enter_context(running_server())
        deploy(server, model)
        targets = mlgov_targets(server)
        if not args.skip_standalone:
            targets += standalone_targets(server, stack)
        if not args.skip_mlflow:
            theirs = mlflow_target(model, stack)
            if theirs is None:
                print("MLflow could not be installed or started; its rows are missing")
            else:
                targets.append(theirs)
        for payload in payload_kinds:
            for target in targets:
                check(target, model, payload)
        series = [measure(targets, model, p, args.clients, args) for p in payload_kinds]
        if args.single_client_seconds > 0:  # the capture's cost per call, without queueing
            single = argparse.Namespace(**{**vars(args), "seconds": args.single_client_seconds})
            series.append(measure(targets[:2], model, payload_kinds[0], 1, single))
        series.append(measure_mixed(targets[:2], model, payload_kinds[0], args.clients, args))
        load_after = os.getloadavg()
        answered = sum(
            t.requests.get(key, 0) for t in targets if t.capture == "on" for key in series
        )
    on_disk = lines_on_disk(server.home)  # the server and the replicas have flushed on exit
    shutil.rmtree(server.home, ignore_errors=True)
    capture_p50, capture_p99 = capture_path_us(model)

    print(
        f"\nserving one scikit-learn model (StandardScaler + LogisticRegression, "
        f"{len(model.columns)} features), 1 row per request, {args.clients} concurrent clients "
        f"(and, in-server, {payload_kinds[0]}: 1 client; half the clients on each of the "
        f"capture-off and capture-on endpoints) on 127.0.0.1, one server process each, "
        f"{args.rounds} interleaved rounds of {args.seconds:g} s per row "
        f"({args.single_client_seconds:g} s at 1 client) after a {args.warmup:g} s warm-up; "
        f"mlgov on SQLite, "
        f"every call authenticated and audited; MLflow {MLFLOW_VERSION} without auth; "
        f"load from {driver()}; {os.cpu_count()} cores, load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after\n"
    )
    print("\n".join(report(targets, series)))
    print(
        f"capture path in process (record + buffered submit): p50 {capture_p50:.1f} us, "
        f"p99 {capture_p99:.1f} us per invocation"
    )
    print(
        f"captures: {answered} invocations of capture-on endpoints measured; "
        f"{on_disk} lines on disk after shutdown (warm-up and checks included)"
    )
    print(f"bench took {time.perf_counter() - started:.0f} s")

    print(yardstick.report())


if __name__ == "__main__":
    main()
