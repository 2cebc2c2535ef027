"""Load a registered model artifact by its flavor into one ``predict(2-D array)`` interface.

Every flavor's library is imported only when a model of that flavor is loaded, so the server
needs scikit-learn, XGBoost, LightGBM or ONNX Runtime only for the models it actually serves
(``pip install 'mlgov[serving]'`` brings all four). Pickled flavors (``sklearn``, ``python`` and
pickled XGBoost/LightGBM estimators) run code from the artifact when loaded: serve only artifacts
whose registry version you trust, which is what approval and the verified hash are for.
"""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlgov.errors import ErrorCode, InvalidRequest

# The pickle protocol header and the ZIP header (joblib may compress; skops/onnx do not).
_PICKLE_MAGIC = b"\x80"
_MODULES = {
    "sklearn": "sklearn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "onnx": "onnxruntime",
    "python": None,
}


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to answer: ``predict`` takes rows x features, returns one row per input."""

    flavor: str
    predict_fn: Callable[[np.ndarray], Any]

    def predict(self, features: np.ndarray) -> np.ndarray:
        try:
            result = np.asarray(self.predict_fn(features))
        except Exception as exc:
            # The caller's rows did not fit the model (shape, types): their error, not ours.
            raise InvalidRequest(
                f"the {self.flavor} model could not score the input: {exc}",
                code=ErrorCode.MODEL_ERROR,
            ) from exc
        if result.ndim == 0 or result.shape[0] != features.shape[0]:
            raise InvalidRequest(
                f"the {self.flavor} model answered {result.shape} for {features.shape[0]} rows",
                code=ErrorCode.MODEL_ERROR,
            )
        return result


def require_library(flavor: str) -> None:
    """Refuse early (at deploy time) when the flavor's library is not installed here."""
    module = _MODULES.get(flavor, "")
    if module == "":
        raise InvalidRequest(f"unknown flavor {flavor!r}", code=ErrorCode.INVALID_REQUEST)
    if module is None:
        return
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise InvalidRequest(
            f"the {flavor} flavor needs the {module} package on the server "
            "(pip install 'mlgov[serving]')",
            code=ErrorCode.FLAVOR_UNAVAILABLE,
        ) from exc


def load_model(flavor: str, path: Path) -> LoadedModel:
    """Load the artifact at ``path``; raises INVALID_MODEL_ARTIFACT when it is not that flavor."""
    require_library(flavor)
    loader = _LOADERS[flavor]
    try:
        return LoadedModel(flavor, loader(path))
    except InvalidRequest:
        raise
    except Exception as exc:
        raise InvalidRequest(
            f"the artifact is not a loadable {flavor} model: {exc}",
            code=ErrorCode.INVALID_MODEL_ARTIFACT,
        ) from exc


def _unpickle(path: Path) -> Any:
    with open(path, "rb") as handle:
        head = handle.read(1)
    if head == _PICKLE_MAGIC:
        with open(path, "rb") as handle:
            return pickle.load(handle)  # trusted by approval: see the module docstring
    joblib = importlib.import_module("joblib")  # compressed joblib dumps
    return joblib.load(path)


def _predictor(model: Any, flavor: str) -> Callable[[np.ndarray], Any]:
    predict = getattr(model, "predict", None)
    if not callable(predict):
        raise InvalidRequest(
            f"the {flavor} artifact holds a {type(model).__name__}, which has no predict()",
            code=ErrorCode.INVALID_MODEL_ARTIFACT,
        )
    return predict  # type: ignore[no-any-return]


def _sklearn(path: Path) -> Callable[[np.ndarray], Any]:
    return _predictor(_unpickle(path), "sklearn")


def _python(path: Path) -> Callable[[np.ndarray], Any]:
    return _predictor(_unpickle(path), "python")


def _xgboost(path: Path) -> Callable[[np.ndarray], Any]:
    xgboost = importlib.import_module("xgboost")
    if _is_pickle(path):
        return _predictor(_unpickle(path), "xgboost")
    booster = xgboost.Booster()
    booster.load_model(str(path))  # JSON or UBJSON, the formats XGBoost recommends
    return lambda rows: booster.predict(xgboost.DMatrix(rows))


def _lightgbm(path: Path) -> Callable[[np.ndarray], Any]:
    lightgbm = importlib.import_module("lightgbm")
    if _is_pickle(path):
        return _predictor(_unpickle(path), "lightgbm")
    booster = lightgbm.Booster(model_file=str(path))
    return lambda rows: booster.predict(rows)


def _onnx(path: Path) -> Callable[[np.ndarray], Any]:
    onnxruntime = importlib.import_module("onnxruntime")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0]
    dtype = np.float64 if feed.type == "tensor(double)" else np.float32
    output = session.get_outputs()[0].name

    def predict(rows: np.ndarray) -> Any:
        return session.run([output], {feed.name: rows.astype(dtype, copy=False)})[0]

    return predict


def _is_pickle(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(1) == _PICKLE_MAGIC


_LOADERS: dict[str, Callable[[Path], Callable[[np.ndarray], Any]]] = {
    "sklearn": _sklearn,
    "python": _python,
    "xgboost": _xgboost,
    "lightgbm": _lightgbm,
    "onnx": _onnx,
}
