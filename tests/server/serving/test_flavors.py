"""Every flavor loads from its artifact and answers predict(rows) the way its library does."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from mlgov.errors import ErrorCode, InvalidRequest
from mlgov.server.serving.flavors import load_model, require_library

X, Y = load_iris(return_X_y=True)


class Doubler:
    """A plain Python model: the `python` flavor needs only predict()."""

    def predict(self, rows: np.ndarray) -> np.ndarray:
        return rows.sum(axis=1) * 2


def _pickle(tmp_path: Path, model: object) -> Path:
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    return path


def test_sklearn_pickle_and_joblib(tmp_path: Path) -> None:
    import joblib

    model = LogisticRegression(max_iter=500).fit(X, Y)
    loaded = load_model("sklearn", _pickle(tmp_path, model))
    np.testing.assert_array_equal(loaded.predict(X[:10]), model.predict(X[:10]))
    compressed = tmp_path / "model.joblib"
    joblib.dump(model, compressed, compress=3)
    np.testing.assert_array_equal(
        load_model("sklearn", compressed).predict(X[:10]), model.predict(X[:10])
    )


def test_python_class(tmp_path: Path) -> None:
    loaded = load_model("python", _pickle(tmp_path, Doubler()))
    assert loaded.predict(np.array([[1.0, 2.0]])).tolist() == [6.0]


def test_xgboost_native_and_pickled(tmp_path: Path) -> None:
    xgboost = pytest.importorskip("xgboost")
    model = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(X, Y)
    native = tmp_path / "model.json"
    model.get_booster().save_model(str(native))
    probabilities = load_model("xgboost", native).predict(X[:5])
    np.testing.assert_allclose(probabilities, model.predict_proba(X[:5]), rtol=1e-5)
    pickled = load_model("xgboost", _pickle(tmp_path, model))
    np.testing.assert_array_equal(pickled.predict(X[:5]), model.predict(X[:5]))


def test_lightgbm_native(tmp_path: Path) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    model = lightgbm.LGBMRegressor(n_estimators=5, verbose=-1).fit(X, Y.astype(float))
    native = tmp_path / "model.txt"
    model.booster_.save_model(str(native))
    np.testing.assert_allclose(load_model("lightgbm", native).predict(X[:5]), model.predict(X[:5]))


def test_onnx(tmp_path: Path) -> None:
    skl2onnx = pytest.importorskip("skl2onnx")
    pytest.importorskip("onnxruntime")
    from skl2onnx.common.data_types import FloatTensorType

    model = LogisticRegression(max_iter=500).fit(X, Y)
    onnx_model = skl2onnx.convert_sklearn(
        model, initial_types=[("input", FloatTensorType([None, 4]))], target_opset=17
    )
    path = tmp_path / "model.onnx"
    path.write_bytes(onnx_model.SerializeToString())
    np.testing.assert_array_equal(load_model("onnx", path).predict(X[:10]), model.predict(X[:10]))


def test_wrong_artifact_and_wrong_input_are_user_errors(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"not a model at all")
    with pytest.raises(InvalidRequest) as error:
        load_model("sklearn", garbage)
    assert error.value.code == ErrorCode.INVALID_MODEL_ARTIFACT
    with pytest.raises(InvalidRequest) as error:
        load_model("python", _pickle(tmp_path, {"no": "predict"}))
    assert error.value.code == ErrorCode.INVALID_MODEL_ARTIFACT

    loaded = load_model("sklearn", _pickle(tmp_path, LogisticRegression(max_iter=500).fit(X, Y)))
    with pytest.raises(InvalidRequest) as error:
        loaded.predict(np.ones((2, 3)))  # the model wants 4 features
    assert error.value.code == ErrorCode.MODEL_ERROR


def test_unknown_flavor_and_missing_library(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidRequest) as error:
        require_library("pickle")
    assert error.value.code == ErrorCode.INVALID_REQUEST
    # A None entry in sys.modules makes the import fail, as if the package were not installed.
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(InvalidRequest) as error:
        require_library("onnx")
    assert error.value.code == ErrorCode.FLAVOR_UNAVAILABLE
