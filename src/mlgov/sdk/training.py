"""Training jobs: run an entrypoint on the server's job runner, register its model, compare it."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from mlgov.sdk._http import API_PREFIX, Json, Transport, rebuild_error
from mlgov.sdk.registry import RegistryApi

FINISHED = ("Completed", "Failed", "Stopped")
Data = str | Path | bytes | IO[bytes] | Mapping[str, Any]


class TrainingApi:
    def __init__(self, transport: Transport) -> None:
        self._t = transport
        self._registry = RegistryApi(transport)

    @staticmethod
    def _job(account: str, name: str) -> str:
        return f"/accounts/{account}/training-jobs/{name}"

    def _location(self, account: str, data: Data | None, upload: bool) -> dict[str, Any] | None:
        """A server path or URI as is; with ``upload`` a local file (or bytes) goes up first."""
        if data is None:
            return None
        if isinstance(data, Mapping):
            return dict(data)
        if upload or not isinstance(data, str | Path):
            location: dict[str, Any] = {
                "artifact_sha256": self._registry.upload_artifact(account, data)["sha256"]
            }
            if isinstance(data, str | Path) and Path(data).suffix:
                location["filename"] = Path(data).name
            return location
        return {"uri": str(data)}

    def create_job(
        self,
        account: str,
        name: str,
        *,
        model_group: str,
        training_data: Data,
        command: Sequence[str] | None = None,
        function: str | None = None,
        evaluation_data: Data | None = None,
        upload: bool = False,
        hyperparameters: Mapping[str, Any] | None = None,
        flavor: str = "sklearn",
        python_path: Sequence[str] = (),
        environment: Mapping[str, str] | None = None,
        model_file: str | None = None,
        label: str | None = None,
        problem_type: str | None = None,
        timeout_seconds: int | None = None,
    ) -> Json:
        """Queue a training job.

        Args:
            command: the command line to run (``["python", "train.py"]``), or
            function: ``module:function`` called as ``fn(train, eval, model_dir, params)``.
            training_data / evaluation_data: a path or URI the server reads, a data location
                mapping, or (bytes, a file object, or a path with ``upload=True``) a file
                uploaded to the account first.
            label / problem_type: how the comparison with the champion reads the evaluation data.
        """
        entrypoint: dict[str, Any] = {"python_path": list(python_path)}
        if command is not None:
            entrypoint["command"] = list(command)
        if function is not None:
            entrypoint["function"] = function
        body: dict[str, Any] = {
            "name": name,
            "entrypoint": entrypoint,
            "training_data": self._location(account, training_data, upload),
            "model_group": model_group,
            "flavor": flavor,
            "hyperparameters": dict(hyperparameters or {}),
            "environment": dict(environment or {}),
        }
        evaluation = self._location(account, evaluation_data, upload)
        if evaluation is not None:
            body["evaluation_data"] = evaluation
        if model_file is not None:
            body["model_file"] = model_file
        comparison = {
            k: v for k, v in (("label", label), ("problem_type", problem_type)) if v is not None
        }
        if comparison:
            body["comparison"] = comparison
        if timeout_seconds is not None:
            body["timeout_seconds"] = timeout_seconds
        result: Json = self._t.request("POST", f"/accounts/{account}/training-jobs", json=body)
        return result

    def list_jobs(self, account: str, *, status: str | None = None) -> Iterator[Json]:
        return self._t.paginate(f"/accounts/{account}/training-jobs", {"status": status})

    def get_job(self, account: str, name: str) -> Json:
        result: Json = self._t.request("GET", self._job(account, name))
        return result

    def stop_job(self, account: str, name: str) -> Json:
        result: Json = self._t.request("POST", f"{self._job(account, name)}/stop")
        return result

    def logs(self, account: str, name: str, *, stream: str = "stdout") -> str:
        response = self._t.http.get(
            f"{API_PREFIX}{self._job(account, name)}/logs", params={"stream": stream}
        )
        if response.status_code >= 400:
            raise rebuild_error(response)
        return response.text

    def comparison(self, account: str, name: str) -> Json:
        result: Json = self._t.request("GET", f"{self._job(account, name)}/comparison")
        return result

    def wait(
        self, account: str, name: str, *, timeout: float = 3600.0, interval: float = 1.0
    ) -> Json:
        """Poll until the job is Completed, Failed or Stopped; returns the job."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_job(account, name)
            if job["status"] in FINISHED:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"training job {name} is still {job['status']} after {timeout}s")
            time.sleep(interval)
