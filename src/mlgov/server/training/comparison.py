"""Score a new model and the champion on the same evaluation data, with the model-quality metrics.

Pure functions over files: no database, no HTTP. The evaluation data is CSV (with a header) or
Parquet; every column but the label is a feature, in file order, as the models were trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from mlgov.analytics.model_quality import HIGHER_IS_BETTER, compute_model_quality
from mlgov.errors import ErrorCode, InvalidRequest
from mlgov.formats.model_quality import ProblemType
from mlgov.server.serving.flavors import load_model

PREDICTION = "prediction"
# The metric the verdict is about, per problem type.
PRIMARY = {
    ProblemType.REGRESSION: "rmse",
    ProblemType.BINARY_CLASSIFICATION: "accuracy",
    ProblemType.MULTICLASS_CLASSIFICATION: "accuracy",
}
# Distinct integer labels up to this many are classes, beyond it a regression target.
MAX_CLASSES = 20


@dataclass(frozen=True)
class Contender:
    role: str  # "candidate" or "champion"
    path: Path
    flavor: str
    version: int | None


def clean(value: Any) -> Any:
    """The value with every non-finite float as None: JSON (and PostgreSQL's JSONB) has no NaN."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def read_table(path: Path) -> pa.Table:
    with open(path, "rb") as handle:
        magic = handle.read(4)
    try:
        if magic == b"PAR1":
            return pq.read_table(path)
        return pa_csv.read_csv(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidRequest(
            f"the evaluation data is neither CSV nor Parquet: {exc}", code=ErrorCode.INVALID_DATA
        ) from exc


def infer_problem_type(labels: pa.Array) -> ProblemType:
    values = labels.drop_null()
    if pa.types.is_floating(values.type):
        as_int = pc.cast(pc.round(values), pa.int64(), safe=False)
        if not pc.all(pc.equal(pc.cast(as_int, values.type), values)).as_py():
            return ProblemType.REGRESSION
        values = as_int
    distinct = len(pc.unique(values))
    if pa.types.is_integer(values.type) and distinct > MAX_CLASSES:
        return ProblemType.REGRESSION
    return (
        ProblemType.BINARY_CLASSIFICATION
        if distinct <= 2
        else ProblemType.MULTICLASS_CLASSIFICATION
    )


def split(table: pa.Table, label: str) -> tuple[np.ndarray, pa.Array]:
    if label not in table.column_names:
        raise InvalidRequest(
            f"the evaluation data has no label column {label!r} (it has "
            f"{', '.join(table.column_names)})",
            code=ErrorCode.INVALID_DATA,
        )
    features = [
        table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
        for name in table.column_names
        if name != label
    ]
    if not features:
        raise InvalidRequest(
            "the evaluation data has no feature columns", code=ErrorCode.INVALID_DATA
        )
    return np.column_stack(features), table.column(label).combine_chunks()


def _scalars(section: dict[str, Any]) -> dict[str, float]:
    out = {}
    for name, entry in section.items():
        if isinstance(entry, dict) and "value" in entry:
            value = entry["value"]
            out[name] = float(value) if isinstance(value, int | float) else math.nan
    return out


def evaluate(
    contender: Contender, rows: np.ndarray, labels: pa.Array, label: str, kind: ProblemType
) -> dict[str, Any]:
    model = load_model(contender.flavor, contender.path)
    predictions = np.asarray(model.predict(rows))
    if predictions.ndim == 2 and predictions.shape[1] == 1:
        predictions = predictions[:, 0]
    if kind is not ProblemType.REGRESSION and pa.types.is_integer(labels.type):
        predictions = np.rint(predictions).astype(np.int64)
    data = pa.table({label: labels, PREDICTION: pa.array(predictions)})
    statistics = compute_model_quality(
        data, kind, ground_truth_attribute=label, inference_attribute=PREDICTION
    ).to_dict()
    section = statistics[kind.metrics_key]
    return {
        "role": contender.role,
        "version": contender.version,
        "flavor": contender.flavor,
        "metrics": _scalars(section),
        "statistics": statistics,
    }


def better(kind: ProblemType, metric: str, candidate: float, champion: float) -> bool | None:
    if math.isnan(candidate) or math.isnan(champion) or candidate == champion:
        return None
    higher = metric in HIGHER_IS_BETTER[kind]
    return candidate > champion if higher else candidate < champion


def compare(
    evaluation: Path,
    label: str,
    problem_type: ProblemType | None,
    candidate: Contender,
    champion: Contender | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report (JSON-able) and its summary for the version's tags and metrics."""
    table = read_table(evaluation)
    rows, labels = split(table, label)
    kind = problem_type or infer_problem_type(labels)
    results = [evaluate(candidate, rows, labels, label, kind)]
    if champion is not None:
        results.append(evaluate(champion, rows, labels, label, kind))
    primary = PRIMARY[kind]
    summary: dict[str, Any] = {
        "problem_type": kind.value,
        "metric": primary,
        "candidate": results[0]["metrics"].get(primary, math.nan),
    }
    deltas: dict[str, dict[str, Any]] = {}
    if champion is not None:
        mine, theirs = results[0]["metrics"], results[1]["metrics"]
        for name in sorted(set(mine) & set(theirs)):
            deltas[name] = {
                "candidate": mine[name],
                "champion": theirs[name],
                "delta": mine[name] - theirs[name],
                "candidate_better": better(kind, name, mine[name], theirs[name]),
            }
        verdict = deltas.get(primary, {}).get("candidate_better")
        summary.update(
            champion_version=champion.version,
            champion=theirs.get(primary, math.nan),
            verdict={True: "better", False: "worse", None: "same"}[verdict],
        )
    else:
        summary["verdict"] = "no-champion"
    report = {
        "problem_type": kind.value,
        "label": label,
        "evaluation_rows": table.num_rows,
        "primary_metric": primary,
        "candidate": results[0],
        "champion": results[1] if champion is not None else None,
        "comparison": deltas,
        "summary": summary,
    }
    return clean(report), clean(summary)
