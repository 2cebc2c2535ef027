"""The demo's training entrypoint, run by mlgov training jobs as ``demo_training:fit``.

Reads CSV files whose last column is the label, fits the same pipeline as the first model on the
training file, writes it to ``model_dir`` and returns its metrics.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def _read(path: str) -> tuple[np.ndarray, np.ndarray]:
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    return data[:, :-1], data[:, -1].astype(int)


def fit(
    train: str, evaluation: str | None, model_dir: str, params: dict[str, Any]
) -> dict[str, Any]:
    x, y = _read(train)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=int(params["max_iter"])))
    model.fit(x, y)
    Path(model_dir, "model.pkl").write_bytes(pickle.dumps(model))
    metrics = {"train_accuracy": float((model.predict(x) == y).mean())}
    if evaluation:
        ex, ey = _read(evaluation)
        metrics["evaluation_accuracy"] = float((model.predict(ex) == ey).mean())
    return metrics
