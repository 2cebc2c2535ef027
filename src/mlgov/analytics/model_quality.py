"""Model-quality metrics, constraints and violations in the SageMaker Model Monitor shapes.

The metric sets are SageMaker's: ``mae``/``mse``/``rmse``/``r2`` for regression; the confusion
matrix, rates, F-scores, ROC and precision-recall curves, AUC and best-constant-classifier baselines
for binary classification; accuracy and support-weighted recall/precision/F-scores for multiclass.
Each scalar metric is ``{value, standard_deviation}``; the deviation is the sample standard
deviation of the metric over five random 80% subsamples (without replacement, seeded), reported only
when there are at least 200 rows, as SageMaker does.

Conventions where a metric is undefined follow scikit-learn's ``zero_division=0`` (and Spark MLlib,
which SageMaker's container is built on): a precision with no predicted positives is 0, a recall
with no actual positives is 0, an F-score with precision + recall = 0 is 0. ``r2`` of a constant
target is 1 for a perfect prediction and 0 otherwise. AUC needs both classes and is NaN otherwise.

Curves follow Spark's ``BinaryClassificationMetrics``: one point per distinct score, highest score
first; the ROC curve starts at (0, 0) and ends at (1, 1), the precision-recall curve starts at
recall 0 with the precision of the first threshold. ``au_prc`` is the trapezoidal area under that
precision-recall curve.

Everything is vectorised numpy: one sort for the curves and AUC, counting with ``bincount``; the
subsamples reuse the full sort (a subsample of a sorted array is still sorted).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from mlgov.errors import ErrorCode, InvalidRequest
from mlgov.formats.model_quality import (
    SECTION_TYPES,
    ComparisonOperator,
    DatasetInfo,
    MetricConstraint,
    MetricValue,
    ModelQualityConstraints,
    ModelQualityStatistics,
    ModelQualityViolation,
    ModelQualityViolations,
    PrecisionRecallCurve,
    ProblemType,
    RocCurve,
)

MIN_ROWS_FOR_DEVIATION = 200
SUBSAMPLE_COUNT = 5
SUBSAMPLE_FRACTION = 0.8
DEFAULT_CURVE_POINTS = 1000
DEFAULT_PROBABILITY_THRESHOLD = 0.5

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Which way is bad: constraints suggested from a baseline fire when a metric drops below
# (higher-is-better) or rises above (error rates) its baseline value.
HIGHER_IS_BETTER: dict[ProblemType, tuple[str, ...]] = {
    ProblemType.REGRESSION: ("r2",),
    ProblemType.BINARY_CLASSIFICATION: (
        "recall",
        "precision",
        "accuracy",
        "true_positive_rate",
        "true_negative_rate",
        "auc",
        "f0_5",
        "f1",
        "f2",
    ),
    ProblemType.MULTICLASS_CLASSIFICATION: (
        "accuracy",
        "weighted_recall",
        "weighted_precision",
        "weighted_f0_5",
        "weighted_f1",
        "weighted_f2",
    ),
}
LOWER_IS_BETTER: dict[ProblemType, tuple[str, ...]] = {
    ProblemType.REGRESSION: ("mae", "mse", "rmse"),
    ProblemType.BINARY_CLASSIFICATION: ("false_positive_rate", "false_negative_rate"),
    ProblemType.MULTICLASS_CLASSIFICATION: (),
}

_BETAS = {"f0_5": 0.5, "f1": 1.0, "f2": 2.0}


def _invalid(message: str) -> InvalidRequest:
    return InvalidRequest(message, code=ErrorCode.INVALID_DATA)


# --------------------------------------------------------------------------------------------
# Public entry points


def compute_model_quality(
    data: pa.Table,
    problem_type: ProblemType | str,
    *,
    ground_truth_attribute: str,
    inference_attribute: str | None = None,
    probability_attribute: str | None = None,
    probability_threshold: float = DEFAULT_PROBABILITY_THRESHOLD,
    positive_label: object = 1,
    seed: int = 0,
    curve_points: int | None = DEFAULT_CURVE_POINTS,
    evaluation_time: datetime | None = None,
) -> ModelQualityStatistics:
    """Compute the ``statistics.json`` of a model-quality run over merged predictions and labels.

    Args:
        data: one row per prediction, with the label column and the prediction column(s).
        problem_type: ``Regression``, ``BinaryClassification`` or ``MulticlassClassification``.
        ground_truth_attribute: column holding the actual label (or target value).
        inference_attribute: column holding the predicted label (or value). Required for
            regression and multiclass; for binary it may be replaced by a probability.
        probability_attribute: binary only: the score of the positive class, used for the curves
            and AUC and, without ``inference_attribute``, for the predicted label.
        probability_threshold: a probability at or above it predicts the positive class.
        positive_label: binary only: the label value of the positive class.
        seed: seeds the subsamples behind ``standard_deviation``; same seed, same numbers.
        curve_points: keep at most this many threshold points per curve (evenly spaced over the
            thresholds, ends kept); ``None`` keeps every distinct score.
        evaluation_time: recorded in ``dataset.evaluation_time``; defaults to now (UTC).

    Rows where the label or the prediction is missing are left out; ``dataset.item_count`` is the
    number of rows evaluated.

    Raises:
        InvalidRequest: (``INVALID_DATA``) missing columns, no complete rows, NaN or infinite
            values, labels that are not classes, more than two classes for a binary problem.
    """
    kind = _problem_type(problem_type)
    if curve_points is not None and curve_points < 2:
        raise _invalid(f"curve_points must be at least 2, not {curve_points}")
    if not math.isfinite(probability_threshold):
        raise _invalid(f"probability_threshold must be finite, not {probability_threshold}")
    if probability_attribute is not None and kind is not ProblemType.BINARY_CLASSIFICATION:
        raise _invalid(f"a probability attribute is for BinaryClassification only, not {kind}")
    if kind is ProblemType.REGRESSION:
        evaluator: _Evaluator = _RegressionEvaluator.prepare(
            data, ground_truth_attribute, _required_inference(kind, inference_attribute)
        )
    elif kind is ProblemType.BINARY_CLASSIFICATION:
        evaluator = _BinaryEvaluator.prepare(
            data,
            ground_truth_attribute,
            inference_attribute,
            probability_attribute,
            probability_threshold,
            positive_label,
            curve_points,
        )
    else:
        evaluator = _MulticlassEvaluator.prepare(
            data, ground_truth_attribute, _required_inference(kind, inference_attribute)
        )

    full = evaluator.scalars(None)
    deviations = _subsample_deviations(evaluator, full.keys(), seed)
    section: dict[str, Any] = dict(evaluator.structured())
    for name, value in full.items():
        section[name] = MetricValue(value=value, standard_deviation=deviations[name])
    moment = evaluation_time or datetime.now(UTC)
    return ModelQualityStatistics.model_validate(
        {
            "version": 0.0,
            "dataset": DatasetInfo(
                item_count=evaluator.row_count, evaluation_time=_iso_millis(moment)
            ),
            kind.metrics_key: SECTION_TYPES[kind].model_validate(section),
        }
    )


def suggest_model_quality_constraints(
    statistics: ModelQualityStatistics, *, deviations: float = 0.0
) -> ModelQualityConstraints:
    """Suggest constraints from a baseline's statistics, as SageMaker's ``suggest_baseline`` does.

    Each headline metric gets its baseline value as threshold: ``LessThanThreshold`` for
    higher-is-better metrics (accuracy, AUC, F-scores, r2, ...), ``GreaterThanThreshold`` for
    error metrics (mae, mse, rmse, false positive/negative rates). Best-constant-classifier metrics
    and curves get none. ``deviations`` > 0 loosens each threshold by that many of the metric's
    standard deviations (where one was computed), so sampling noise alone does not fire.
    """
    if deviations < 0 or not math.isfinite(deviations):
        raise _invalid(f"deviations must be a finite number >= 0, not {deviations}")
    kind = statistics.problem_type
    metrics = statistics.metrics.scalar_metrics()
    suggested: dict[str, MetricConstraint] = {}
    directions = [(n, ComparisonOperator.LESS_THAN) for n in HIGHER_IS_BETTER[kind]]
    directions += [(n, ComparisonOperator.GREATER_THAN) for n in LOWER_IS_BETTER[kind]]
    order = {name: i for i, name in enumerate(type(statistics.metrics).model_fields)}
    for name, operator in sorted(directions, key=lambda item: order.get(item[0], len(order))):
        metric = metrics.get(name)
        if metric is None or not math.isfinite(metric.value):
            continue
        slack = deviations * metric.standard_deviation
        if not math.isfinite(slack):
            slack = 0.0
        threshold = (
            metric.value - slack
            if operator is ComparisonOperator.LESS_THAN
            else metric.value + slack
        )
        suggested[name] = MetricConstraint(threshold=threshold, comparison_operator=operator)
    return ModelQualityConstraints.for_problem(kind, suggested)


def evaluate_model_quality(
    statistics: ModelQualityStatistics, constraints: ModelQualityConstraints
) -> ModelQualityViolations:
    """Check statistics against constraints; each violated constraint is one violation.

    A metric whose value is NaN (say, AUC over one class only) violates its constraint: compliance
    cannot be shown. A constraint on a metric the statistics do not have is a configuration error.
    """
    if statistics.problem_type is not constraints.problem_type:
        raise _invalid(
            f"statistics are for {statistics.problem_type} but constraints are for "
            f"{constraints.problem_type}"
        )
    metrics = statistics.metrics.scalar_metrics()
    missing = sorted(set(constraints.constraints) - set(metrics))
    if missing:
        raise _invalid(
            f"constraints name metrics the statistics do not have: {', '.join(missing)} "
            f"(available: {', '.join(sorted(metrics))})"
        )
    violations: list[ModelQualityViolation] = []
    for name, constraint in constraints.constraints.items():
        metric = metrics[name]
        operator = constraint.comparison_operator
        if math.isnan(metric.value):
            description = (
                f"Metric {name} could not be computed (NaN), so {operator} "
                f"{constraint.threshold} cannot be ruled out"
            )
        elif operator.is_violated_by(metric.value, constraint.threshold):
            spread = (
                f" +/- {metric.standard_deviation}"
                if math.isfinite(metric.standard_deviation)
                else ""
            )
            description = (
                f"Metric {name} with {metric.value}{spread} was {operator} {constraint.threshold}"
            )
        else:
            continue
        violations.append(
            ModelQualityViolation(
                constraint_check_type=str(operator), description=description, metric_name=name
            )
        )
    return ModelQualityViolations(violations=violations)


def with_custom_metrics(
    statistics: ModelQualityStatistics,
    values: Mapping[str, float],
    deviations: Mapping[str, float] | None = None,
) -> ModelQualityStatistics:
    """A copy of ``statistics`` with custom metric values added to its metrics section.

    Custom metrics can then be constrained and evaluated like the built-in ones.
    """
    extra = {
        name: MetricValue(
            value=float(value), standard_deviation=(deviations or {}).get(name, math.nan)
        )
        for name, value in values.items()
    }
    try:
        section = statistics.metrics.with_metrics(extra)
    except ValueError as error:
        raise _invalid(str(error)) from error
    return statistics.model_copy(update={statistics.problem_type.metrics_key: section})


# --------------------------------------------------------------------------------------------
# Evaluators: each prepares its arrays once, then computes the scalar metrics on any row subset.


class _Evaluator(Protocol):
    @property
    def row_count(self) -> int: ...

    def scalars(self, mask: BoolArray | None) -> dict[str, float]:
        """Every scalar metric over the rows selected by ``mask`` (all rows for ``None``)."""
        ...

    def structured(self) -> Mapping[str, Any]:
        """The confusion matrix and curves, computed over all rows."""
        ...


@dataclass
class _RegressionEvaluator(_Evaluator):
    actual: FloatArray
    predicted: FloatArray

    @property
    def row_count(self) -> int:
        return int(self.actual.size)

    @classmethod
    def prepare(cls, data: pa.Table, label: str, prediction: str) -> _RegressionEvaluator:
        actual_col, predicted_col = _complete_rows(data, [label, prediction])
        return cls(
            actual=_finite_floats(actual_col, label),
            predicted=_finite_floats(predicted_col, prediction),
        )

    def scalars(self, mask: BoolArray | None) -> dict[str, float]:
        actual = self.actual if mask is None else self.actual[mask]
        predicted = self.predicted if mask is None else self.predicted[mask]
        errors = actual - predicted
        mse = float(np.mean(errors * errors))
        residual = float(np.sum(errors * errors))
        centred = actual - np.mean(actual)
        total = float(np.sum(centred * centred))
        # A constant target has no variance to explain: scikit-learn's convention, finite always.
        r2 = 1.0 - residual / total if total > 0 else float(residual == 0)
        return {
            "mae": float(np.mean(np.abs(errors))),
            "mse": mse,
            "rmse": math.sqrt(mse),
            "r2": r2,
        }

    def structured(self) -> Mapping[str, Any]:
        return {}


@dataclass
class _BinaryEvaluator(_Evaluator):
    positive_name: str
    class_names: list[str]
    actual: BoolArray  # True where the label is the positive class
    predicted: BoolArray
    # Rows sorted by score, highest first; subsamples select from these without re-sorting.
    order: IntArray
    sorted_scores: FloatArray
    sorted_actual: BoolArray
    curve_points: int | None

    @property
    def row_count(self) -> int:
        return int(self.actual.size)

    @classmethod
    def prepare(
        cls,
        data: pa.Table,
        label: str,
        inference: str | None,
        probability: str | None,
        threshold: float,
        positive_label: object,
        curve_points: int | None,
    ) -> _BinaryEvaluator:
        if inference is None and probability is None:
            raise _invalid(
                "binary classification needs an inference attribute (predicted label) "
                "or a probability attribute"
            )
        columns = [label] + [c for c in (inference, probability) if c is not None]
        complete = _complete_rows(data, columns)
        actual_names = class_names(complete[0], label)
        positive = class_name_of(positive_label)
        scores: FloatArray | None = None
        if probability is not None:
            scores = _finite_floats(complete[-1], probability)
        if inference is not None:
            predicted_names = class_names(complete[1], inference)
        else:
            assert scores is not None
            predicted_names = None

        observed = set(pc.unique(actual_names).to_pylist())
        if predicted_names is not None:
            observed |= set(pc.unique(predicted_names).to_pylist())
        others = sorted(observed - {positive}, key=_class_sort_key)
        if len(others) > 1:
            raise _invalid(
                f"binary classification with positive label {positive!r} found other labels "
                f"{others}: labels must be the positive class and one other "
                "(set the positive label, or use MulticlassClassification)"
            )
        actual = _is_class(actual_names, positive)
        if predicted_names is not None:
            predicted = _is_class(predicted_names, positive)
        else:
            assert scores is not None
            predicted = scores >= threshold
        if scores is None:
            # Without probabilities the hard predictions are the scores, as Spark does.
            scores = predicted.astype(np.float64)
        order = np.argsort(-scores, kind="stable").astype(np.int64)
        return cls(
            positive_name=positive,
            class_names=sorted(observed | {positive}, key=_class_sort_key),
            actual=actual,
            predicted=predicted,
            order=order,
            sorted_scores=scores[order],
            sorted_actual=actual[order],
            curve_points=curve_points,
        )

    def scalars(self, mask: BoolArray | None) -> dict[str, float]:
        actual = self.actual if mask is None else self.actual[mask]
        predicted = self.predicted if mask is None else self.predicted[mask]
        n = int(actual.size)
        tp = int(np.count_nonzero(actual & predicted))
        fn = int(np.count_nonzero(actual)) - tp
        fp = int(np.count_nonzero(predicted)) - tp
        tn = n - tp - fn - fp
        positives = tp + fn
        recall = _safe_ratio(tp, tp + fn)
        precision = _safe_ratio(tp, tp + fp)
        # The best constant classifier for a binary problem predicts the positive class for every
        # row: the only constant with non-zero recall and F-scores.
        constant_precision = _safe_ratio(positives, n)
        constant_recall = 1.0 if positives > 0 else 0.0
        values = {
            "recall": recall,
            "precision": precision,
            "accuracy": _safe_ratio(tp + tn, n),
            "recall_best_constant_classifier": constant_recall,
            "precision_best_constant_classifier": constant_precision,
            "accuracy_best_constant_classifier": constant_precision,
            "true_positive_rate": recall,
            "true_negative_rate": _safe_ratio(tn, tn + fp),
            "false_positive_rate": _safe_ratio(fp, fp + tn),
            "false_negative_rate": _safe_ratio(fn, fn + tp),
        }
        sorted_mask = None if mask is None else mask[self.order]
        tps, fps = self._threshold_counts(sorted_mask)
        values["auc"] = _roc_auc(tps, fps)
        values["au_prc"] = _pr_area(tps, fps)
        for name, beta in _BETAS.items():
            values[name] = _f_beta(precision, recall, beta)
        for name, beta in _BETAS.items():
            values[f"{name}_best_constant_classifier"] = _f_beta(
                constant_precision, constant_recall, beta
            )
        return values

    def structured(self) -> Mapping[str, Any]:
        matrix = _confusion_counts(self.actual, self.predicted)
        negative_names = [name for name in self.class_names if name != self.positive_name]
        names = {True: self.positive_name}
        if negative_names:
            names[False] = negative_names[0]
        confusion: dict[str, dict[str, int]] = {}
        for actual_flag in sorted(names, key=lambda flag: _class_sort_key(names[flag])):
            confusion[names[actual_flag]] = {
                names[predicted_flag]: matrix[actual_flag][predicted_flag]
                for predicted_flag in sorted(names, key=lambda flag: _class_sort_key(names[flag]))
            }
        result: dict[str, Any] = {"confusion_matrix": confusion}
        tps, fps = self._threshold_counts(None)
        positives = int(tps[-1]) if tps.size else 0
        negatives = int(fps[-1]) if fps.size else 0
        keep = _thinned(tps.size, self.curve_points)
        tps, fps = tps[keep], fps[keep]
        if positives > 0 and negatives > 0:
            fpr = np.concatenate(([0.0], fps / negatives, [1.0]))
            tpr = np.concatenate(([0.0], tps / positives, [1.0]))
            result["receiver_operating_characteristic_curve"] = RocCurve(
                false_positive_rates=fpr.tolist(), true_positive_rates=tpr.tolist()
            )
        if positives > 0:
            precisions = tps / (tps + fps)
            recalls = tps / positives
            result["precision_recall_curve"] = PrecisionRecallCurve(
                precisions=np.concatenate((precisions[:1], precisions)).tolist(),
                recalls=np.concatenate(([0.0], recalls)).tolist(),
            )
        return result

    def _threshold_counts(self, sorted_mask: BoolArray | None) -> tuple[IntArray, IntArray]:
        """Cumulative true and false positives at each distinct score, highest score first."""
        scores = self.sorted_scores if sorted_mask is None else self.sorted_scores[sorted_mask]
        actual = self.sorted_actual if sorted_mask is None else self.sorted_actual[sorted_mask]
        if scores.size == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        last_of_each = np.flatnonzero(scores[1:] != scores[:-1])
        last_of_each = np.append(last_of_each, scores.size - 1)
        tps = np.cumsum(actual, dtype=np.int64)[last_of_each]
        fps = last_of_each + 1 - tps
        return tps, fps


@dataclass
class _MulticlassEvaluator(_Evaluator):
    class_names: list[str]
    actual: IntArray
    predicted: IntArray

    @property
    def row_count(self) -> int:
        return int(self.actual.size)

    @classmethod
    def prepare(cls, data: pa.Table, label: str, inference: str) -> _MulticlassEvaluator:
        actual_col, predicted_col = _complete_rows(data, [label, inference])
        actual_names = class_names(actual_col, label)
        predicted_names = class_names(predicted_col, inference)
        names = sorted(
            set(pc.unique(actual_names).to_pylist()) | set(pc.unique(predicted_names).to_pylist()),
            key=_class_sort_key,
        )
        lookup = pa.array(names, pa.string())
        return cls(
            class_names=names,
            actual=_codes(actual_names, lookup),
            predicted=_codes(predicted_names, lookup),
        )

    def _matrix(self, mask: BoolArray | None) -> IntArray:
        actual = self.actual if mask is None else self.actual[mask]
        predicted = self.predicted if mask is None else self.predicted[mask]
        k = len(self.class_names)
        flat = np.bincount(actual * k + predicted, minlength=k * k)
        return flat.reshape(k, k).astype(np.int64)

    def scalars(self, mask: BoolArray | None) -> dict[str, float]:
        matrix = self._matrix(mask)
        n = int(matrix.sum())
        support = matrix.sum(axis=1)
        predicted_count = matrix.sum(axis=0)
        hits = np.diag(matrix)
        weights = support / n
        recall = _safe_ratios(hits, support)
        precision = _safe_ratios(hits, predicted_count)
        values = {
            "accuracy": float(hits.sum() / n),
            "weighted_recall": float(np.dot(weights, recall)),
            "weighted_precision": float(np.dot(weights, precision)),
        }
        for name, beta in _BETAS.items():
            values[f"weighted_{name}"] = float(np.dot(weights, _f_betas(precision, recall, beta)))
        # Best constant classifier: always the most frequent actual class (the first in label order
        # on a tie). Its recall is 1 for that class and 0 elsewhere, its precision the class share.
        majority = int(np.argmax(support))
        share = float(weights[majority])
        values["accuracy_best_constant_classifier"] = share
        values["weighted_recall_best_constant_classifier"] = share
        values["weighted_precision_best_constant_classifier"] = share * share
        for name, beta in _BETAS.items():
            values[f"weighted_{name}_best_constant_classifier"] = share * _f_beta(share, 1.0, beta)
        return values

    def structured(self) -> Mapping[str, Any]:
        matrix = self._matrix(None)
        return {
            "confusion_matrix": {
                actual: {
                    predicted: int(matrix[i, j]) for j, predicted in enumerate(self.class_names)
                }
                for i, actual in enumerate(self.class_names)
            }
        }


# --------------------------------------------------------------------------------------------
# Metric arithmetic


def _safe_ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else 0.0


def _safe_ratios(numerator: IntArray, denominator: IntArray) -> FloatArray:
    out = np.zeros(numerator.shape, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _f_beta(precision: float, recall: float, beta: float) -> float:
    b2 = beta * beta
    denominator = b2 * precision + recall
    return (1 + b2) * precision * recall / denominator if denominator > 0 else 0.0


def _f_betas(precision: FloatArray, recall: FloatArray, beta: float) -> FloatArray:
    b2 = beta * beta
    denominator = b2 * precision + recall
    out = np.zeros(precision.shape, dtype=np.float64)
    np.divide((1 + b2) * precision * recall, denominator, out=out, where=denominator > 0)
    return out


def _roc_auc(tps: IntArray, fps: IntArray) -> float:
    if tps.size == 0 or tps[-1] == 0 or fps[-1] == 0:
        return math.nan
    tpr = np.concatenate(([0.0], tps / tps[-1]))
    fpr = np.concatenate(([0.0], fps / fps[-1]))
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2)


def _pr_area(tps: IntArray, fps: IntArray) -> float:
    if tps.size == 0 or tps[-1] == 0:
        return math.nan
    precision = tps / (tps + fps)
    recall = np.concatenate(([0.0], tps / tps[-1]))
    precision = np.concatenate((precision[:1], precision))
    return float(np.sum(np.diff(recall) * (precision[1:] + precision[:-1])) / 2)


def _confusion_counts(actual: BoolArray, predicted: BoolArray) -> dict[bool, dict[bool, int]]:
    counts = np.bincount(actual.astype(np.int64) * 2 + predicted.astype(np.int64), minlength=4)
    return {
        False: {False: int(counts[0]), True: int(counts[1])},
        True: {False: int(counts[2]), True: int(counts[3])},
    }


def _thinned(count: int, limit: int | None) -> IntArray:
    if limit is None or count <= limit:
        return np.arange(count, dtype=np.int64)
    return np.unique(np.linspace(0, count - 1, limit).round().astype(np.int64))


def _subsample_deviations(
    evaluator: _Evaluator, names: Iterable[str], seed: int
) -> dict[str, float]:
    n = evaluator.row_count
    if n < MIN_ROWS_FOR_DEVIATION:
        return dict.fromkeys(names, math.nan)
    rng = np.random.default_rng(seed)
    size = int(n * SUBSAMPLE_FRACTION)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(SUBSAMPLE_COUNT):
        mask = np.zeros(n, dtype=np.bool_)
        mask[rng.choice(n, size=size, replace=False)] = True
        for name, value in evaluator.scalars(mask).items():
            samples[name].append(value)
    deviations: dict[str, float] = {}
    for name, values in samples.items():
        array = np.asarray(values, dtype=np.float64)
        deviations[name] = float(np.std(array, ddof=1)) if np.all(np.isfinite(array)) else math.nan
    return deviations


# --------------------------------------------------------------------------------------------
# Input preparation


def _problem_type(value: ProblemType | str) -> ProblemType:
    try:
        return ProblemType(value)
    except ValueError:
        choices = ", ".join(p.value for p in ProblemType)
        raise _invalid(f"unknown problem type {value!r}; expected one of {choices}") from None


def _required_inference(kind: ProblemType, inference: str | None) -> str:
    if inference is None:
        raise _invalid(f"{kind} needs an inference attribute (the predicted value or label)")
    return inference


def _complete_rows(data: pa.Table, columns: list[str]) -> list[pa.Array]:
    """The columns, restricted to rows where none of them is null."""
    missing = [name for name in columns if name not in data.column_names]
    if missing:
        raise _invalid(
            f"missing column(s) {', '.join(map(repr, missing))} "
            f"(columns: {', '.join(data.column_names)})"
        )
    arrays = [data.column(name).combine_chunks() for name in columns]
    for name, array in zip(columns, arrays, strict=True):
        if len(array) > 0 and array.null_count == len(array):
            raise _invalid(f"column {name!r} has no values: every row is null")
    if any(array.null_count for array in arrays):
        complete = pc.is_valid(arrays[0])
        for array in arrays[1:]:
            complete = pc.and_(complete, pc.is_valid(array))
        arrays = [array.filter(complete) for array in arrays]
    if len(arrays[0]) == 0:
        raise _invalid(f"no rows with both {' and '.join(map(repr, columns))} to evaluate")
    return arrays


def _finite_floats(array: pa.Array, name: str) -> FloatArray:
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    try:
        values = pc.cast(array, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise _invalid(f"column {name!r} must hold numbers: {error}") from error
    result: FloatArray = values.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    bad = ~np.isfinite(result)
    if bad.any():
        first = int(np.argmax(bad))
        raise _invalid(
            f"column {name!r} has {int(bad.sum())} NaN or infinite value(s), first at row {first} "
            f"({result[first]})"
        )
    return result


def class_name_of(value: object) -> str:
    """The class name a label value is written as: 1, 1.0, "1.0" and True are all "1"."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        if math.isfinite(number) and number.is_integer():
            return str(int(number))
        return value
    return str(value)


def class_names(array: pa.Array, name: str) -> pa.Array:
    """Labels as class-name strings; numbers become their integer spelling ("1.0" -> "1")."""
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        # Text labels repeat: convert each distinct one once, then expand back to the rows.
        array = pc.dictionary_encode(array)
    if pa.types.is_dictionary(array.type):
        return _value_class_names(array.dictionary, name).take(array.indices)
    return _value_class_names(array, name)


def _value_class_names(array: pa.Array, name: str) -> pa.Array:
    if pa.types.is_boolean(array.type):
        array = pc.cast(array, pa.int8())
    if pa.types.is_large_string(array.type):
        array = pc.cast(array, pa.string())
    if pa.types.is_string(array.type):
        try:
            array = pc.cast(array, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return array
    if pa.types.is_floating(array.type):
        values = array.to_numpy(zero_copy_only=False)
        bad = ~np.isfinite(values)
        if bad.any():
            raise _invalid(f"column {name!r} has NaN or infinite labels")
        fractional = values != np.floor(values)
        if fractional.any():
            example = values[int(np.argmax(fractional))]
            raise _invalid(
                f"column {name!r} holds fractional values (e.g. {example}), not class labels; "
                "pass probabilities as the probability attribute"
            )
        array = pc.cast(array, pa.int64())
    if pa.types.is_integer(array.type):
        return pc.cast(array, pa.string())
    raise _invalid(f"column {name!r} must hold class labels, not {array.type}")


def _class_sort_key(name: str) -> tuple[int, float, str]:
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


def _is_class(names: pa.Array, class_name: str) -> BoolArray:
    flags: BoolArray = pc.equal(names, class_name).to_numpy(zero_copy_only=False)
    return flags


def _codes(names: pa.Array, lookup: pa.Array) -> IntArray:
    codes: IntArray = (
        pc.index_in(names, value_set=lookup).to_numpy(zero_copy_only=False).astype(np.int64)
    )
    return codes


def _iso_millis(moment: datetime) -> str:
    utc = moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
