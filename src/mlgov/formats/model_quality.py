"""Model-quality ``statistics.json``, ``constraints.json`` and ``constraint_violations.json``.

The shapes are the ones SageMaker Model Monitor writes for model-quality jobs: one metrics section
per problem type (``regression_metrics``, ``binary_classification_metrics``,
``multiclass_classification_metrics``), each scalar metric as ``{value, standard_deviation}``, the
confusion matrix nested actual label -> predicted label -> count, and constraints as
``{threshold, comparison_operator}`` per metric. SageMaker writes a missing standard deviation as
the string ``"NaN"``; the same tokens (``"NaN"``, ``"Infinity"``, ``"-Infinity"``) are accepted and
written here for every float, so files stay valid JSON and round-trip unchanged.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

NAN_TOKEN = "NaN"
_TOKENS = {"nan": math.nan, "infinity": math.inf, "+infinity": math.inf, "-infinity": -math.inf}
_TOKENS |= {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf}


def _parse_float(value: Any) -> Any:
    if isinstance(value, str):
        token = _TOKENS.get(value.strip().lower())
        if token is not None:
            return token
    return value


def _dump_float(value: float) -> float | str:
    if math.isnan(value):
        return NAN_TOKEN
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


JsonFloat = Annotated[
    float,
    BeforeValidator(_parse_float),
    PlainSerializer(_dump_float, return_type=float | str, when_used="json"),
]
"""A float that reads and writes NaN and infinities as SageMaker's string tokens."""


class ProblemType(StrEnum):
    REGRESSION = "Regression"
    BINARY_CLASSIFICATION = "BinaryClassification"
    MULTICLASS_CLASSIFICATION = "MulticlassClassification"

    @property
    def metrics_key(self) -> str:
        return _SECTION_PREFIX[self] + "_metrics"

    @property
    def constraints_key(self) -> str:
        return _SECTION_PREFIX[self] + "_constraints"


_SECTION_PREFIX = {
    ProblemType.REGRESSION: "regression",
    ProblemType.BINARY_CLASSIFICATION: "binary_classification",
    ProblemType.MULTICLASS_CLASSIFICATION: "multiclass_classification",
}


class _Wire(BaseModel):
    # Unknown keys are kept, so a file from a newer writer survives a read-write round trip.
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def to_json(self, *, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent, exclude_none=True, by_alias=True)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


class MetricValue(_Wire):
    value: JsonFloat
    standard_deviation: JsonFloat = math.nan


ConfusionMatrix = dict[str, dict[str, int]]
"""Actual label -> predicted label -> count."""


class RocCurve(_Wire):
    false_positive_rates: list[JsonFloat]
    true_positive_rates: list[JsonFloat]


class PrecisionRecallCurve(_Wire):
    precisions: list[JsonFloat]
    recalls: list[JsonFloat]


class _MetricsSection(_Wire):
    """A metrics section: named ``{value, standard_deviation}`` entries plus structured ones."""

    # Extra keys are typed: a custom metric added to a section is a MetricValue like the rest.
    __pydantic_extra__: dict[str, MetricValue] = Field(init=False)
    structured_fields: ClassVar[frozenset[str]] = frozenset()

    def scalar_metrics(self) -> dict[str, MetricValue]:
        """Every ``{value, standard_deviation}`` metric in the section, custom ones included."""
        found: dict[str, MetricValue] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, MetricValue):
                found[name] = value
        found.update(self.__pydantic_extra__ or {})
        return found

    def with_metrics(self, extra: dict[str, MetricValue]) -> _MetricsSection:
        """A copy with ``extra`` metrics added; a name clash with a built-in metric is refused."""
        clashes = sorted(set(extra) & set(type(self).model_fields))
        if clashes:
            raise ValueError(f"custom metric names clash with built-in metrics: {clashes}")
        merged = self.to_dict()
        merged.update({name: metric.to_dict() for name, metric in extra.items()})
        return type(self).model_validate(merged)


class RegressionMetrics(_MetricsSection):
    mae: MetricValue | None = None
    mse: MetricValue | None = None
    rmse: MetricValue | None = None
    r2: MetricValue | None = None


class BinaryClassificationMetrics(_MetricsSection):
    confusion_matrix: ConfusionMatrix | None = None
    recall: MetricValue | None = None
    precision: MetricValue | None = None
    accuracy: MetricValue | None = None
    recall_best_constant_classifier: MetricValue | None = None
    precision_best_constant_classifier: MetricValue | None = None
    accuracy_best_constant_classifier: MetricValue | None = None
    true_positive_rate: MetricValue | None = None
    true_negative_rate: MetricValue | None = None
    false_positive_rate: MetricValue | None = None
    false_negative_rate: MetricValue | None = None
    receiver_operating_characteristic_curve: RocCurve | None = None
    precision_recall_curve: PrecisionRecallCurve | None = None
    auc: MetricValue | None = None
    # Not in the Developer Guide's example, but graphed by the SageMaker SDK's dashboard.
    au_prc: MetricValue | None = None
    f0_5: MetricValue | None = None
    f1: MetricValue | None = None
    f2: MetricValue | None = None
    f0_5_best_constant_classifier: MetricValue | None = None
    f1_best_constant_classifier: MetricValue | None = None
    f2_best_constant_classifier: MetricValue | None = None


class MulticlassClassificationMetrics(_MetricsSection):
    confusion_matrix: ConfusionMatrix | None = None
    accuracy: MetricValue | None = None
    weighted_recall: MetricValue | None = None
    weighted_precision: MetricValue | None = None
    weighted_f0_5: MetricValue | None = None
    weighted_f1: MetricValue | None = None
    weighted_f2: MetricValue | None = None
    accuracy_best_constant_classifier: MetricValue | None = None
    weighted_recall_best_constant_classifier: MetricValue | None = None
    weighted_precision_best_constant_classifier: MetricValue | None = None
    weighted_f0_5_best_constant_classifier: MetricValue | None = None
    weighted_f1_best_constant_classifier: MetricValue | None = None
    weighted_f2_best_constant_classifier: MetricValue | None = None


MetricsSection = RegressionMetrics | BinaryClassificationMetrics | MulticlassClassificationMetrics

SECTION_TYPES: dict[ProblemType, type[_MetricsSection]] = {
    ProblemType.REGRESSION: RegressionMetrics,
    ProblemType.BINARY_CLASSIFICATION: BinaryClassificationMetrics,
    ProblemType.MULTICLASS_CLASSIFICATION: MulticlassClassificationMetrics,
}


class DatasetInfo(_Wire):
    item_count: int
    evaluation_time: str | None = None


class ModelQualityStatistics(_Wire):
    """``statistics.json`` of a model-quality baseline or monitoring run: exactly one section."""

    version: float = 0.0
    dataset: DatasetInfo | None = None
    regression_metrics: RegressionMetrics | None = None
    binary_classification_metrics: BinaryClassificationMetrics | None = None
    multiclass_classification_metrics: MulticlassClassificationMetrics | None = None

    @model_validator(mode="after")
    def _one_section(self) -> ModelQualityStatistics:
        present = [p for p in ProblemType if getattr(self, p.metrics_key) is not None]
        if len(present) != 1:
            keys = ", ".join(p.metrics_key for p in ProblemType)
            raise ValueError(f"expected exactly one of {keys}; found {len(present)}")
        return self

    @property
    def problem_type(self) -> ProblemType:
        return next(p for p in ProblemType if getattr(self, p.metrics_key) is not None)

    @property
    def metrics(self) -> MetricsSection:
        section: MetricsSection = getattr(self, self.problem_type.metrics_key)
        return section


class ComparisonOperator(StrEnum):
    """The condition that *is* the violation: ``LessThanThreshold`` fires when value < threshold."""

    LESS_THAN = "LessThanThreshold"
    LESS_THAN_OR_EQUAL = "LessThanOrEqualToThreshold"
    GREATER_THAN = "GreaterThanThreshold"
    GREATER_THAN_OR_EQUAL = "GreaterThanOrEqualToThreshold"

    def is_violated_by(self, value: float, threshold: float) -> bool:
        if self is ComparisonOperator.LESS_THAN:
            return value < threshold
        if self is ComparisonOperator.LESS_THAN_OR_EQUAL:
            return value <= threshold
        if self is ComparisonOperator.GREATER_THAN:
            return value > threshold
        return value >= threshold


class MetricConstraint(_Wire):
    threshold: JsonFloat
    comparison_operator: ComparisonOperator
    additional_properties: Any = None


class ModelQualityConstraints(_Wire):
    """``constraints.json`` of a model-quality baseline: exactly one constraints section."""

    version: float = 0.0
    regression_constraints: dict[str, MetricConstraint] | None = None
    binary_classification_constraints: dict[str, MetricConstraint] | None = None
    multiclass_classification_constraints: dict[str, MetricConstraint] | None = None

    @model_validator(mode="after")
    def _one_section(self) -> ModelQualityConstraints:
        present = [p for p in ProblemType if getattr(self, p.constraints_key) is not None]
        if len(present) != 1:
            keys = ", ".join(p.constraints_key for p in ProblemType)
            raise ValueError(f"expected exactly one of {keys}; found {len(present)}")
        return self

    @property
    def problem_type(self) -> ProblemType:
        return next(p for p in ProblemType if getattr(self, p.constraints_key) is not None)

    @property
    def constraints(self) -> dict[str, MetricConstraint]:
        section: dict[str, MetricConstraint] = getattr(self, self.problem_type.constraints_key)
        return section

    @classmethod
    def for_problem(
        cls, problem_type: ProblemType, constraints: dict[str, MetricConstraint]
    ) -> ModelQualityConstraints:
        return cls.model_validate({problem_type.constraints_key: constraints})


class ModelQualityViolation(_Wire):
    """One violated constraint; ``constraint_check_type`` is the comparison operator's name."""

    constraint_check_type: str
    description: str
    metric_name: str


class ModelQualityViolations(_Wire):
    violations: list[ModelQualityViolation] = Field(default_factory=list)
