"""Monitoring: datasets, baselines, monitors on endpoints or transform jobs, executions."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from mlgov.sdk._http import API_PREFIX, Json, Transport, rebuild_error

FINISHED = ("Completed", "CompletedWithViolations", "Failed", "Stopped")


class MonitoringApi:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    # --- datasets ---

    def upload_dataset(self, account: str, name: str, data: bytes | str | Path) -> Json:
        """Upload a Parquet, CSV or JSON-lines file (bytes or a local path) for baseline jobs."""
        content = Path(data).read_bytes() if isinstance(data, str | Path) else data
        response = self._t.http.put(
            f"{API_PREFIX}/accounts/{account}/datasets/{name}",
            content=content,
            headers={"content-type": "application/octet-stream"},
        )
        if response.status_code >= 400:
            raise rebuild_error(response)
        result: Json = response.json()
        return result

    def list_datasets(self, account: str) -> list[Json]:
        result: list[Json] = self._t.request("GET", f"/accounts/{account}/datasets")
        return result

    # --- baselines ---

    def create_baseline(
        self,
        account: str,
        name: str,
        *,
        type: str = "data_quality",
        dataset: str | None = None,
        path: str | None = None,
        model_quality: Mapping[str, Any] | None = None,
        bias: Mapping[str, Any] | None = None,
        comparison_threshold: float | None = None,
        comparison_method: str | None = None,
    ) -> Json:
        """Run a baseline job over an uploaded ``dataset`` or an account ``path`` now."""
        body: dict[str, Any] = {"name": name, "type": type}
        for key, value in (
            ("dataset", dataset),
            ("path", path),
            ("model_quality", dict(model_quality) if model_quality else None),
            ("bias", dict(bias) if bias else None),
            ("comparison_threshold", comparison_threshold),
            ("comparison_method", comparison_method),
        ):
            if value is not None:
                body[key] = value
        result: Json = self._t.request("POST", f"/accounts/{account}/baselines", json=body)
        return result

    def import_baseline(
        self,
        account: str,
        name: str,
        *,
        type: str = "data_quality",
        statistics: Mapping[str, Any] | str | Path | None = None,
        constraints: Mapping[str, Any] | str | Path | None = None,
        analysis: Mapping[str, Any] | str | Path | None = None,
    ) -> Json:
        """Import SageMaker ``statistics.json``/``constraints.json`` (or Clarify analysis.json)."""
        body: dict[str, Any] = {"name": name, "type": type}
        for key, value in (
            ("statistics", statistics),
            ("constraints", constraints),
            ("analysis", analysis),
        ):
            if value is not None:
                body[key] = (
                    json.loads(Path(value).read_text(encoding="utf-8"))
                    if isinstance(value, str | Path)
                    else dict(value)
                )
        result: Json = self._t.request("POST", f"/accounts/{account}/baselines/import", json=body)
        return result

    def list_baselines(self, account: str) -> Iterator[Json]:
        return self._t.paginate(f"/accounts/{account}/baselines")

    def get_baseline(self, account: str, name: str) -> Json:
        result: Json = self._t.request("GET", f"/accounts/{account}/baselines/{name}")
        return result

    def download_baseline_file(self, account: str, name: str, file: str) -> Json:
        result: Json = self._t.request("GET", f"/accounts/{account}/baselines/{name}/files/{file}")
        return result

    def delete_baseline(self, account: str, name: str) -> None:
        self._t.request("DELETE", f"/accounts/{account}/baselines/{name}")

    # --- monitors ---

    def create_monitor(
        self,
        account: str,
        name: str,
        endpoint: str | None = None,
        *,
        transform_job: str | None = None,
        type: str = "data_quality",
        baseline: str | None = None,
        settings: Mapping[str, Any] | None = None,
        schedule: str | None = None,
        description: str = "",
    ) -> Json:
        """A monitor on an ``endpoint`` or on a batch ``transform_job`` (one of them).

        ``schedule``: ``cron(0 * ? * * *)``, a crontab, ``rate(1 hour)`` or None (on demand).
        """
        body: dict[str, Any] = {
            "name": name,
            "type": type,
            "settings": dict(settings or {}),
            "description": description,
        }
        if endpoint is not None:
            body["endpoint"] = endpoint
        if transform_job is not None:
            body["transform_job"] = transform_job
        if baseline is not None:
            body["baseline"] = baseline
        if schedule is not None:
            body["schedule"] = schedule
        result: Json = self._t.request("POST", f"/accounts/{account}/monitors", json=body)
        return result

    def list_monitors(
        self, account: str, *, endpoint: str | None = None, transform_job: str | None = None
    ) -> Iterator[Json]:
        return self._t.paginate(
            f"/accounts/{account}/monitors", {"endpoint": endpoint, "transform_job": transform_job}
        )

    def get_monitor(self, account: str, name: str) -> Json:
        result: Json = self._t.request("GET", f"/accounts/{account}/monitors/{name}")
        return result

    def update_monitor(self, account: str, name: str, **changes: Any) -> Json:
        """Change ``baseline``, ``settings``, ``schedule`` (``"none"`` removes it), ``status``
        (``Scheduled``/``Stopped``) or ``description``."""
        result: Json = self._t.request(
            "PATCH", f"/accounts/{account}/monitors/{name}", json=changes
        )
        return result

    def delete_monitor(self, account: str, name: str) -> None:
        self._t.request("DELETE", f"/accounts/{account}/monitors/{name}")

    # --- executions ---

    def start_execution(
        self,
        account: str,
        monitor: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        run_inline: bool = False,
    ) -> Json:
        """Run now over ``[start, end)`` (timezone-aware); default: the window a run now covers.

        ``run_inline`` runs it in the server right after the call instead of on a worker.
        """
        body: dict[str, Any] = {"run_inline": True} if run_inline else {}
        if start is not None:
            body["start_time"] = start.isoformat()
        if end is not None:
            body["end_time"] = end.isoformat()
        result: Json = self._t.request(
            "POST", f"/accounts/{account}/monitors/{monitor}/executions", json=body
        )
        return result

    def list_executions(
        self, account: str, monitor: str, *, status: str | None = None
    ) -> Iterator[Json]:
        return self._t.paginate(
            f"/accounts/{account}/monitors/{monitor}/executions", {"status": status}
        )

    def get_execution(self, account: str, monitor: str, execution: str) -> Json:
        result: Json = self._t.request(
            "GET", f"/accounts/{account}/monitors/{monitor}/executions/{execution}"
        )
        return result

    def stop_execution(self, account: str, monitor: str, execution: str) -> Json:
        result: Json = self._t.request(
            "POST", f"/accounts/{account}/monitors/{monitor}/executions/{execution}/stop"
        )
        return result

    def download_report(self, account: str, monitor: str, execution: str, file: str) -> Json:
        """``statistics.json``, ``constraint_violations.json``, ... of a finished execution."""
        result: Json = self._t.request(
            "GET", f"/accounts/{account}/monitors/{monitor}/executions/{execution}/reports/{file}"
        )
        return result

    def wait(
        self,
        account: str,
        monitor: str,
        execution: str,
        *,
        timeout: float = 600.0,
        poll_seconds: float = 1.0,
    ) -> Json:
        """Poll until the execution has a final status; raises TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.get_execution(account, monitor, execution)
            if found["status"] in FINISHED:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(f"execution {execution} is still {found['status']}")
            time.sleep(poll_seconds)
