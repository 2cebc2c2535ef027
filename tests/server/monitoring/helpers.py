"""What the monitoring server tests share: a model on an endpoint, data, runs and their events."""

from __future__ import annotations

import io
import json
import pickle
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from fastapi import FastAPI
from sklearn.dummy import DummyRegressor
from sqlalchemy import select

from mlgov import Client
from mlgov.server.kit.outbox import OutboxEvent
from mlgov.server.monitoring import jobs

ACCOUNT = "team"


def csv_bytes(columns: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    pacsv.write_csv(pa.table(columns), out)
    return out.getvalue()


def register_constant_model(admin: Client, constant: float, account: str = ACCOUNT) -> None:
    """A new dev account with group ``g`` v1: a model that always answers ``constant``."""
    admin.identity.create_account(account, "dev")
    admin.registry.create_group(account, "g")
    model = DummyRegressor(strategy="constant", constant=constant).fit([[0, 0]], [constant])
    admin.registry.create_version(account, "g", flavor="sklearn", artifact=pickle.dumps(model))


def deploy(admin: Client, constant: float = 0.5) -> None:
    """The constant model behind endpoint ``ep``, capturing everything."""
    register_constant_model(admin, constant)
    admin.serving.create_endpoint(
        ACCOUNT, "ep", [{"group": "g", "version": 1}], capture={"enabled": True}
    )


def binary_quality_baseline(admin: Client, name: str = "mq") -> None:
    """A model-quality baseline from a validation set scored 0.9, 90% of it positive."""
    admin.monitoring.upload_dataset(
        ACCOUNT,
        "validation.csv",
        csv_bytes({"probability": np.full(100, 0.9), "label": np.array([1] * 90 + [0] * 10)}),
    )
    admin.monitoring.create_baseline(
        ACCOUNT,
        name,
        type="model_quality",
        dataset="validation.csv",
        model_quality={
            "problem_type": "BinaryClassification",
            "probability_attribute": "probability",
        },
    )


def run_pending(app: FastAPI, now: datetime) -> dict[str, str]:
    """Flush captures, then run every due execution: execution id -> status."""
    runtime = app.state.runtime
    runtime.capture.flush()
    return jobs.run_pending(runtime.session_factory, runtime.blobs, now)


def monitoring_events(app: FastAPI) -> list[dict[str, Any]]:
    with app.state.runtime.session_factory() as session:
        rows = session.execute(
            select(OutboxEvent).where(OutboxEvent.source == "mlgov.monitoring")
        ).scalars()
        return [json.loads(row.body) for row in rows]
