"""Endpoints and batch transform: deploy registry versions, invoke them, score datasets, send
ground truth for their captures."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from mlgov.sdk._http import API_PREFIX, Json, Transport, rebuild_error
from mlgov.sdk.registry import RegistryApi, download_verified

Variant = Mapping[str, Any]  # {"group": ..., "version": ..., "weight"?: ..., "name"?: ...}


class ServingApi:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    @staticmethod
    def _endpoint(account: str, name: str) -> str:
        return f"/accounts/{account}/endpoints/{name}"

    def create_endpoint(
        self,
        account: str,
        name: str,
        variants: Sequence[Variant],
        *,
        capture: Mapping[str, Any] | None = None,
        description: str = "",
    ) -> Json:
        """Deploy versions; ``capture`` holds ``enabled``, ``sampling_percentage``,
        ``capture_input`` and ``capture_output``."""
        body: dict[str, Any] = {
            "name": name,
            "variants": list(variants),
            "description": description,
        }
        if capture is not None:
            body["capture"] = dict(capture)
        result: Json = self._t.request("POST", f"/accounts/{account}/endpoints", json=body)
        return result

    def list_endpoints(self, account: str) -> Iterator[Json]:
        return self._t.paginate(f"/accounts/{account}/endpoints")

    def get_endpoint(self, account: str, name: str) -> Json:
        result: Json = self._t.request("GET", self._endpoint(account, name))
        return result

    def update_endpoint(
        self,
        account: str,
        name: str,
        *,
        variants: Sequence[Variant] | None = None,
        capture: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> Json:
        """Blue/green: the call returns once the new variants' models are loaded and serving."""
        body: dict[str, Any] = {}
        if variants is not None:
            body["variants"] = list(variants)
        if capture is not None:
            body["capture"] = dict(capture)
        if description is not None:
            body["description"] = description
        result: Json = self._t.request("PATCH", self._endpoint(account, name), json=body)
        return result

    def delete_endpoint(self, account: str, name: str) -> None:
        self._t.request("DELETE", self._endpoint(account, name))

    def invoke(
        self,
        account: str,
        name: str,
        rows: Sequence[Sequence[float]] | Sequence[Mapping[str, Any]] | None = None,
        *,
        body: bytes | str | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
        inference_id: str | None = None,
        target_variant: str | None = None,
    ) -> Json:
        """Score ``rows`` (or a raw ``body`` in ``content_type``).

        Returns ``{"predictions", "variant", "event_id", "captured"}``; with a CSV ``accept`` the
        predictions are the answer's text.
        """
        if (rows is None) == (body is None):
            raise ValueError("give rows or body")
        if rows is not None:
            body, content_type = json.dumps({"instances": list(rows)}), "application/json"
        headers = {"content-type": content_type, "accept": accept}
        if inference_id is not None:
            headers["x-mlgov-inference-id"] = inference_id
        if target_variant is not None:
            headers["x-mlgov-target-variant"] = target_variant
        response = self._t.http.post(
            f"{API_PREFIX}{self._endpoint(account, name)}/invocations",
            content=body,
            headers=headers,
        )
        if response.status_code >= 400:
            raise rebuild_error(response)
        answer = response.json()["predictions"] if accept == "application/json" else response.text
        return {
            "predictions": answer,
            "variant": response.headers.get("x-mlgov-variant"),
            "event_id": response.headers.get("x-mlgov-event-id"),
            "captured": response.headers.get("x-mlgov-captured") == "true",
        }

    def put_ground_truth(
        self, account: str, name: str, labels: Mapping[str, Any] | Iterable[Mapping[str, Any]]
    ) -> Json:
        """Labels by inference id (``{"inference-1": 1, ...}``) or ground-truth records."""
        return self._post_ground_truth(f"{self._endpoint(account, name)}/ground-truth", labels)

    def _post_ground_truth(
        self, path: str, labels: Mapping[str, Any] | Iterable[Mapping[str, Any]]
    ) -> Json:
        if isinstance(labels, Mapping):
            records: Iterable[Mapping[str, Any]] = (
                {
                    "groundTruthData": {"data": str(label), "encoding": "CSV"},
                    "eventMetadata": {"eventId": str(key)},
                    "eventVersion": "0",
                }
                for key, label in labels.items()
            )
        else:
            records = labels
        body = "".join(json.dumps(record) + "\n" for record in records)
        response = self._t.http.post(
            f"{API_PREFIX}{path}",
            content=body,
            headers={"content-type": "application/x-ndjson"},
        )
        if response.status_code >= 400:
            raise rebuild_error(response)
        result: Json = response.json()
        return result

    # --- batch transform ---

    def create_transform_job(
        self,
        account: str,
        name: str,
        group: str,
        version: int,
        *,
        data: str | Path | bytes | None = None,
        data_sha256: str | None = None,
        format: str = "csv",
        csv_header: bool = True,
        capture: bool = False,
    ) -> Json:
        """Queue a job over ``data`` (uploaded first) or a dataset already uploaded, by hash."""
        if (data is None) == (data_sha256 is None):
            raise ValueError("give data or data_sha256")
        if data is not None:
            data_sha256 = RegistryApi(self._t).upload_artifact(account, data)["sha256"]
        body = {
            "name": name,
            "group": group,
            "version": version,
            "input": {"sha256": data_sha256, "format": format, "csv_header": csv_header},
            "capture": capture,
        }
        result: Json = self._t.request("POST", f"/accounts/{account}/transform-jobs", json=body)
        return result

    def get_transform_job(self, account: str, name: str) -> Json:
        result: Json = self._t.request("GET", f"/accounts/{account}/transform-jobs/{name}")
        return result

    def list_transform_jobs(self, account: str) -> Iterator[Json]:
        return self._t.paginate(f"/accounts/{account}/transform-jobs")

    def wait_transform_job(
        self, account: str, name: str, *, timeout: float = 600, poll: float = 0.5
    ) -> Json:
        """The job once Completed or Failed; TimeoutError if it takes longer than ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_transform_job(account, name)
            if job["status"] in ("Completed", "Failed"):
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"transform job {name} is still {job['status']}")
            time.sleep(poll)

    def put_transform_job_ground_truth(
        self, account: str, name: str, labels: Mapping[str, Any] | Iterable[Mapping[str, Any]]
    ) -> Json:
        """Labels for a captured job's rows, by inference id (``{"nightly-0": 1, ...}``, ids
        ``<job>-<row>``) or as ground-truth records; the job's monitors merge them."""
        return self._post_ground_truth(
            f"/accounts/{account}/transform-jobs/{name}/ground-truth", labels
        )

    def download_transform_output(self, account: str, name: str, target: str | Path) -> Json:
        """Stream the Parquet output to ``target``, checking its SHA-256."""
        path = f"{API_PREFIX}/accounts/{account}/transform-jobs/{name}/output"
        return download_verified(self._t, path, target)
