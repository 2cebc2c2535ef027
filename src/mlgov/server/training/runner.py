"""Run one training job: a subprocess in a clean directory, then its model into the registry.

The entrypoint sees only a minimal environment (``PATH``, locale, ``HOME`` set to its working
directory) plus the job's own variables and the contract:

- ``MLGOV_TRAINING_DATA``: path of the training data file
- ``MLGOV_EVALUATION_DATA``: path of the evaluation data file (set only when the job has one)
- ``MLGOV_MODEL_DIR``: where to write the model file
- ``MLGOV_PARAMETERS``: the hyperparameters as a JSON object
- ``MLGOV_OUTPUT``: where to write metrics, a JSON object of name -> number

Server secrets (database URL, keys) are never passed on. A crash of the entrypoint, a
``module:function`` included, ends its own process only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec

from mlgov.errors import MlgovError
from mlgov.formats.model_quality import ProblemType
from mlgov.server.db.base import utc_now
from mlgov.server.db.engine import unit_of_work
from mlgov.server.kit.blobs import CHUNK_SIZE
from mlgov.server.kit.runtime import Runtime
from mlgov.server.training import comparison, service
from mlgov.server.training.schemas import ComparisonStatus, JobStatus
from mlgov.server.training.service import Claimed, Outcome

logger = logging.getLogger("mlgov.training.runner")

PASSED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SYSTEMROOT", "TMPDIR", "TEMP", "TMP")
# How often a running job checks for a stop request and how long a killed one gets to exit.
STOP_CHECK_SECONDS = 1.0
KILL_GRACE_SECONDS = 2.0
POLL_SECONDS = 0.05

# ``module:function`` runs in its own interpreter, so that a crash cannot take the server down.
FUNCTION_RUNNER = """
import importlib, json, os, sys
module, _, name = sys.argv[1].partition(":")
function = getattr(importlib.import_module(module), name)
metrics = function(
    os.environ["MLGOV_TRAINING_DATA"],
    os.environ.get("MLGOV_EVALUATION_DATA"),
    os.environ["MLGOV_MODEL_DIR"],
    json.loads(os.environ["MLGOV_PARAMETERS"]),
)
if metrics is not None:
    with open(os.environ["MLGOV_OUTPUT"], "w") as handle:
        json.dump(metrics, handle)
"""


class JobFailed(Exception):
    """The job ends here, with this status and reason."""

    def __init__(self, reason: str, status: JobStatus = JobStatus.FAILED) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass
class Dataset:
    path: Path
    uri: str
    sha256: str


@dataclass
class Run:
    job: Claimed
    root: Path
    exit_code: int | None = None
    stdout_sha256: str | None = None
    stderr_sha256: str | None = None
    datasets: list[dict[str, Any]] | None = None
    metrics: dict[str, Any] | None = None

    @property
    def cwd(self) -> Path:
        return self.root / "cwd"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output(self) -> Path:
        return self.root / "output" / "metrics.json"

    def outcome(self, status: JobStatus, reason: str | None) -> Outcome:
        return Outcome(
            status=status,
            reason=reason,
            exit_code=self.exit_code,
            stdout_sha256=self.stdout_sha256,
            stderr_sha256=self.stderr_sha256,
            datasets=self.datasets or [],
            metrics=self.metrics or {},
        )


# --- claiming ------------------------------------------------------------------------------------


def claim_one(runtime: Runtime) -> Claimed | None:
    """Claim the next runnable job; jobs of dead runners are failed on the way and skipped."""
    while True:
        with unit_of_work(runtime.session_factory) as session:
            claimed = service.claim(session, utc_now())
        if claimed is None or claimed.previous_status == JobStatus.PENDING.value:
            return claimed


def run_pending(runtime: Runtime) -> int:
    """Run every pending job, one after another, in this thread; returns how many ran."""
    count = 0
    while (job := claim_one(runtime)) is not None:
        execute(runtime, job)
        count += 1
    return count


# --- one job -------------------------------------------------------------------------------------


def execute(runtime: Runtime, job: Claimed, shutdown: threading.Event | None = None) -> None:
    settings = runtime.settings.training
    base = runtime.settings.home / "training-runs"
    base.mkdir(parents=True, exist_ok=True)
    run = Run(job, Path(tempfile.mkdtemp(prefix=f"{job.name}-", dir=base)))
    try:
        _execute(runtime, run, shutdown)
    except JobFailed as failed:
        _finish(runtime, job.id, run.outcome(failed.status, failed.reason))
    except Exception as exc:
        logger.exception("training job %s failed in the runner", job.name)
        reason = f"internal error in the job runner: {exc}"
        _finish(runtime, job.id, run.outcome(JobStatus.FAILED, reason))
    finally:
        if not settings.keep_workdirs:
            shutil.rmtree(run.root, ignore_errors=True)


def _finish(runtime: Runtime, job_id: str, outcome: Outcome) -> None:
    with unit_of_work(runtime.session_factory) as session:
        service.finish(session, job_id, outcome)


def _execute(runtime: Runtime, run: Run, shutdown: threading.Event | None) -> None:
    for directory in (run.cwd, run.model_dir, run.output.parent, run.root / "data"):
        directory.mkdir(parents=True, exist_ok=True)
    training = _materialize(runtime, run, run.job.training_data, "training.csv")
    evaluation = (
        _materialize(runtime, run, run.job.evaluation_data, "evaluation.csv")
        if run.job.evaluation_data
        else None
    )
    run.datasets = [{"uri": d.uri, "sha256": d.sha256} for d in (training, evaluation) if d]
    status, reason = _run_process(runtime, run, training, evaluation, shutdown)
    run.metrics = _read_metrics(run)
    if status is not JobStatus.COMPLETED:
        raise JobFailed(reason or "the job did not complete", status)
    model = _model_file(run)
    comparison_status, report_sha256, summary = _compare(runtime, run, model, evaluation)
    try:
        with unit_of_work(runtime.session_factory) as session:
            service.register_model(
                session,
                runtime.blobs,
                run.job.id,
                _chunks(model),
                run.outcome(JobStatus.COMPLETED, None),
                comparison_status,
                report_sha256,
                summary,
            )
    except MlgovError as error:
        raise JobFailed(f"registering the model failed: {error.message}") from error


# --- data ----------------------------------------------------------------------------------------


def _materialize(runtime: Runtime, run: Run, location: dict[str, Any], default: str) -> Dataset:
    """Give the job a local file: an uploaded dataset is copied in, a local path used as is."""
    kind = "training" if default.startswith("training") else "evaluation"
    sha256 = location.get("artifact_sha256")
    if sha256:
        target = run.root / "data" / str(location.get("filename") or default)
        try:
            with open(target, "wb") as handle:
                for chunk in runtime.blobs.open_verified(sha256):
                    handle.write(chunk)
        except MlgovError as error:
            raise JobFailed(f"the {kind} data could not be read: {error.message}") from error
        uri = f"mlgov:registry:{run.job.account_id}:artifact/{sha256}"
        return Dataset(target, uri, sha256)
    uri = str(location["uri"])
    try:
        if uri.startswith("file://") or "://" not in uri:
            path = Path(uri.removeprefix("file://"))
            if not path.is_absolute():
                raise JobFailed(f"the {kind} data path {uri} is not absolute")
            if not path.is_file():
                raise JobFailed(f"the {kind} data {uri} does not exist or is not a file")
            return Dataset(path, uri, _sha256_of(path))
        target = run.root / "data" / (uri.rstrip("/").rsplit("/", 1)[-1] or default)
        with fsspec.open(uri, "rb") as source, open(target, "wb") as handle:
            shutil.copyfileobj(source, handle, CHUNK_SIZE)
        return Dataset(target, uri, _sha256_of(target))
    except OSError as exc:
        raise JobFailed(f"the {kind} data {uri} could not be read: {exc}") from exc


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def _chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            yield chunk


# --- the process ---------------------------------------------------------------------------------


def command_of(job: Claimed) -> list[str]:
    entrypoint = job.entrypoint
    if entrypoint.get("function"):
        return [sys.executable, "-c", FUNCTION_RUNNER, str(entrypoint["function"])]
    return [str(part) for part in entrypoint["command"]]


def environment_of(
    job: Claimed, run: Run, training: Dataset, evaluation: Dataset | None
) -> dict[str, str]:
    env = {key: os.environ[key] for key in PASSED_ENV if key in os.environ}
    env.update(HOME=str(run.cwd), PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    env.update({str(k): str(v) for k, v in job.environment.items()})
    python_path = [str(p) for p in job.entrypoint.get("python_path") or []]
    if python_path:
        env["PYTHONPATH"] = os.pathsep.join(python_path)
    env.update(
        MLGOV_TRAINING_JOB=job.name,
        MLGOV_TRAINING_DATA=str(training.path),
        MLGOV_MODEL_DIR=str(run.model_dir),
        MLGOV_PARAMETERS=json.dumps(job.hyperparameters),
        MLGOV_OUTPUT=str(run.output),
    )
    if evaluation is not None:
        env["MLGOV_EVALUATION_DATA"] = str(evaluation.path)
    return env


def _run_process(
    runtime: Runtime,
    run: Run,
    training: Dataset,
    evaluation: Dataset | None,
    shutdown: threading.Event | None,
) -> tuple[JobStatus, str | None]:
    job = run.job
    logs = run.root / "logs"
    logs.mkdir(exist_ok=True)
    stdout_path, stderr_path = logs / "stdout.log", logs / "stderr.log"
    status, reason = JobStatus.COMPLETED, None
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        try:
            process = subprocess.Popen(
                command_of(job),
                cwd=run.cwd,
                env=environment_of(job, run, training, evaluation),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group: a kill reaches its children
            )
        except OSError as exc:
            raise JobFailed(f"the entrypoint could not start: {exc}") from exc
        deadline = time.monotonic() + job.timeout_seconds
        next_check = time.monotonic() + STOP_CHECK_SECONDS
        while process.poll() is None:
            now = time.monotonic()
            if now >= deadline:
                status = JobStatus.STOPPED
                reason = f"MaxRuntimeExceeded: the job ran past its {job.timeout_seconds}s timeout"
            elif shutdown is not None and shutdown.is_set():
                status, reason = JobStatus.FAILED, "the job runner shut down while the job ran"
            elif now >= next_check:
                next_check = now + STOP_CHECK_SECONDS
                with unit_of_work(runtime.session_factory) as session:
                    if service.heartbeat(session, job.id):
                        status, reason = JobStatus.STOPPED, "stopped on request"
            if status is not JobStatus.COMPLETED:
                _kill(process)
                break
            time.sleep(POLL_SECONDS)
        run.exit_code = process.wait()
    limit = runtime.settings.training.max_log_bytes
    run.stdout_sha256 = runtime.blobs.put_bytes(_tail(stdout_path, limit)).sha256
    run.stderr_sha256 = runtime.blobs.put_bytes(_tail(stderr_path, limit)).sha256
    if status is JobStatus.COMPLETED and run.exit_code != 0:
        last = _last_line(stderr_path)
        status = JobStatus.FAILED
        reason = f"the entrypoint exited with code {run.exit_code}" + (f": {last}" if last else "")
    return status, reason


def _kill(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group, SIGKILL after a grace period."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_SECONDS), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if hasattr(os, "killpg"):
                os.killpg(process.pid, sig)
            else:  # pragma: no cover - Windows has no process groups to signal
                process.kill()
        if wait is None:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(path: Path, limit: int) -> bytes:
    size = path.stat().st_size
    with open(path, "rb") as handle:
        if size > limit:
            handle.seek(size - limit)
        return handle.read()


def _last_line(path: Path) -> str:
    lines = [line for line in _tail(path, 4096).decode(errors="replace").splitlines() if line]
    return lines[-1].strip()[:500] if lines else ""


def _read_metrics(run: Run) -> dict[str, Any]:
    if not run.output.is_file():
        return {}
    try:
        metrics = json.loads(run.output.read_text())
    except ValueError as exc:
        raise JobFailed(f"MLGOV_OUTPUT does not hold JSON: {exc}") from exc
    if not isinstance(metrics, dict):
        raise JobFailed("MLGOV_OUTPUT must hold a JSON object of metric name -> number")
    cleaned: dict[str, Any] = comparison.clean(metrics)
    return cleaned


def _model_file(run: Run) -> Path:
    files = sorted(p for p in run.model_dir.rglob("*") if p.is_file())
    if run.job.model_file:
        chosen = run.model_dir / run.job.model_file
        if not chosen.is_file():
            raise JobFailed(f"the entrypoint wrote no {run.job.model_file} to MLGOV_MODEL_DIR")
        return chosen
    if not files:
        raise JobFailed("the entrypoint wrote no model file to MLGOV_MODEL_DIR")
    if len(files) > 1:
        names = ", ".join(str(p.relative_to(run.model_dir)) for p in files[:10])
        raise JobFailed(f"MLGOV_MODEL_DIR holds several files ({names}); set model_file")
    return files[0]


# --- comparison ----------------------------------------------------------------------------------


def _compare(
    runtime: Runtime, run: Run, model: Path, evaluation: Dataset | None
) -> tuple[ComparisonStatus, str | None, dict[str, Any]]:
    if evaluation is None:
        return ComparisonStatus.SKIPPED, None, {}
    job = run.job
    config = job.comparison
    try:
        with unit_of_work(runtime.session_factory) as session:
            found = service.champion(
                session, job.account_id, job.model_group, str(config.get("alias", "champion"))
            )
        champion = None
        if found is not None:
            version, sha256, flavor = found
            path = run.root / "champion" / "model"
            path.parent.mkdir(exist_ok=True)
            with open(path, "wb") as handle:
                for chunk in runtime.blobs.open_verified(sha256):
                    handle.write(chunk)
            champion = comparison.Contender("champion", path, flavor, version)
        problem = config.get("problem_type")
        report, summary = comparison.compare(
            evaluation.path,
            str(config.get("label", "label")),
            ProblemType(problem) if problem else None,
            comparison.Contender("candidate", model, job.flavor, None),
            champion,
        )
    except Exception as exc:
        message = exc.message if isinstance(exc, MlgovError) else str(exc)
        logger.info("comparison of training job %s failed: %s", job.name, message)
        return ComparisonStatus.FAILED, None, {"error": message[:256]}
    report["job"] = job.name
    report["evaluation_data"] = {"uri": evaluation.uri, "sha256": evaluation.sha256}
    ref = runtime.blobs.put_bytes(json.dumps(report, indent=2, sort_keys=True).encode())
    return ComparisonStatus.COMPLETED, ref.sha256, summary


# --- the worker ----------------------------------------------------------------------------------
