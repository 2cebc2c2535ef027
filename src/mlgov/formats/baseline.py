"""Data-quality baseline files in the SageMaker Model Monitor shapes.

``statistics.json``, ``constraints.json`` and ``constraint_violations.json`` read and write here so
that a baseline made by SageMaker is accepted unchanged and ours parses where theirs does. The
rules that keep that promise:

- fields are declared in the documented order and dumped with their wire names, ``None`` left out
  (``dump_json``), so key order and spelling match the documented schemas;
- unknown keys are kept and written back (``extra="allow"``): the bring-your-own-container contract
  lets producers add custom statistics;
- numbers that SageMaker writes as floats (``"version": 0.0``, bucket counts ``1722.0``) keep their
  int/float spelling through ``int | float`` fields.

mlgov adds one private key per feature, ``mlgov``, holding the serialized sketches that make
profiles mergeable (:class:`FeatureSketches`). SageMaker's parsers ignore it.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from mlgov.errors import ErrorCode, InvalidRequest

Number = int | float


class InferredType(StrEnum):
    INTEGRAL = "Integral"
    FRACTIONAL = "Fractional"
    STRING = "String"
    UNKNOWN = "Unknown"


class Toggle(StrEnum):
    ENABLED = "Enabled"
    DISABLED = "Disabled"


class ComparisonMethod(StrEnum):
    SIMPLE = "Simple"
    ROBUST = "Robust"
    # The SageMaker doc table spells the same two values this way.
    LINF_SIMPLE = "linf_simple"
    LINF_ROBUST = "linf_robust"

    @property
    def is_robust(self) -> bool:
        return self in (ComparisonMethod.ROBUST, ComparisonMethod.LINF_ROBUST)


class CategoricalDriftMethod(StrEnum):
    LINFINITY = "LInfinity"
    CHI_SQUARED = "ChiSquared"


class ConstraintCheckType(StrEnum):
    DATA_TYPE = "data_type_check"
    COMPLETENESS = "completeness_check"
    BASELINE_DRIFT = "baseline_drift_check"
    MISSING_COLUMN = "missing_column_check"
    EXTRA_COLUMN = "extra_column_check"
    CATEGORICAL_VALUES = "categorical_values_check"
    # mlgov extension: SageMaker's constraints carry is_non_negative but list no check for it.
    NON_NEGATIVE = "non_negative_check"


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")


class _File(_Wire):
    """A whole baseline file: parse from and dump to JSON text with the wire names."""

    @classmethod
    def parse_json(cls, text: str | bytes) -> Self:
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            raise InvalidRequest(
                f"not a valid {cls._file_name()}: {_first_errors(exc)}",
                code=ErrorCode.INVALID_DATA,
            ) from exc

    @classmethod
    def read(cls, path: str | Path) -> Self:
        try:
            text = Path(path).read_bytes()
        except OSError as exc:
            raise InvalidRequest(
                f"cannot read {cls._file_name()} at {path}: {exc.strerror}",
                code=ErrorCode.INVALID_DATA,
            ) from exc
        return cls.parse_json(text)

    def dump_json(self, *, indent: int | None = 2) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True, indent=indent)

    def write(self, path: str | Path) -> None:
        Path(path).write_text(self.dump_json() + "\n", encoding="utf-8")

    @classmethod
    def _file_name(cls) -> str:
        return cls.__name__


def _first_errors(exc: ValidationError, limit: int = 3) -> str:
    parts = []
    for error in exc.errors()[:limit]:
        location = ".".join(str(item) for item in error["loc"]) or "<root>"
        parts.append(f"{location}: {error['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


# --- statistics.json ----------------------------------------------------------------------------


class CommonStatistics(_Wire):
    num_present: int
    num_missing: int


class KllBucket(_Wire):
    lower_bound: Number
    upper_bound: Number
    count: Number


class KllParameters(_Wire):
    c: Number
    k: Number


class KllSketch(_Wire):
    """KLL compactor levels: the items in ``data[i]`` each stand for ``2**i`` observations."""

    parameters: KllParameters
    data: list[list[Number]]


class KllDistribution(_Wire):
    buckets: list[KllBucket]
    sketch: KllSketch | None = None


class NumericalDistribution(_Wire):
    kll: KllDistribution | None = None


class NumericalStatistics(_Wire):
    common: CommonStatistics
    mean: Number | None = None
    sum: Number | None = None
    std_dev: Number | None = None
    min: Number | None = None
    max: Number | None = None
    distribution: NumericalDistribution | None = None


class CategoricalBucket(_Wire):
    value: str
    count: Number


class CategoricalBuckets(_Wire):
    buckets: list[CategoricalBucket]


class CategoricalDistribution(_Wire):
    categorical: CategoricalBuckets | None = None


class StringStatistics(_Wire):
    common: CommonStatistics
    distinct_count: Number | None = None
    distribution: CategoricalDistribution | None = None


class TypeCounts(_Wire):
    """How many present values looked like each type (Deequ's data-type histogram)."""

    integral: int = 0
    fractional: int = 0
    string: int = 0
    unknown: int = 0


class FeatureSketches(_Wire):
    """mlgov's mergeable state for one feature, kept under the feature's ``mlgov`` key.

    ``numeric_*`` cover the finite numbers seen (whatever the inferred type), ``kll`` is a
    serialized ``kll_doubles_sketch``, ``frequent_items`` a ``frequent_strings_sketch`` and ``hll``
    an ``hll_sketch`` (all base64, Apache DataSketches binary formats). ``numeric_values`` holds
    exact counts per distinct number while there are few; ``null`` once there were too many.
    """

    format: int = 1
    type_counts: TypeCounts = Field(default_factory=TypeCounts)
    numeric_count: int = 0
    numeric_sum: float = 0.0
    numeric_m2: float = 0.0
    numeric_min: float | None = None
    numeric_max: float | None = None
    infinite_count: int = 0
    kll: str | None = None
    numeric_values: list[tuple[float, int]] | None = None
    frequent_items: str | None = None
    hll: str | None = None


class FeatureStatistics(_Wire):
    name: str
    inferred_type: InferredType
    numerical_statistics: NumericalStatistics | None = None
    string_statistics: StringStatistics | None = None
    mlgov: FeatureSketches | None = None

    @property
    def common(self) -> CommonStatistics:
        """Present/missing counts, wherever this feature's statistics keep them."""
        if self.numerical_statistics is not None:
            return self.numerical_statistics.common
        if self.string_statistics is not None:
            return self.string_statistics.common
        raise InvalidRequest(
            f"feature {self.name!r} has neither numerical_statistics nor string_statistics",
            code=ErrorCode.INVALID_DATA,
        )


class DatasetStatistics(_Wire):
    item_count: int


class Statistics(_File):
    """``statistics.json``: per-feature statistics of one dataset."""

    version: Number = 0
    dataset: DatasetStatistics
    features: list[FeatureStatistics]

    def feature(self, name: str) -> FeatureStatistics | None:
        return next((feature for feature in self.features if feature.name == name), None)

    @classmethod
    def _file_name(cls) -> str:
        return "statistics.json"


# --- constraints.json ---------------------------------------------------------------------------


class DistributionConstraints(_Wire):
    perform_comparison: Toggle | None = None
    comparison_threshold: Number | None = None
    comparison_method: ComparisonMethod | None = Field(
        default=None,
        # An older revision of the documented schema misspells the key; accept both on read.
        validation_alias=AliasChoices("comparison_method", "comparion_method"),
        serialization_alias="comparison_method",
    )
    categorical_comparison_threshold: Number | None = None
    categorical_drift_method: CategoricalDriftMethod | None = None


class MonitoringConfig(_Wire):
    evaluate_constraints: Toggle | None = None
    emit_metrics: Toggle | None = None
    datatype_check_threshold: Number | None = None
    domain_content_threshold: Number | None = None
    distribution_constraints: DistributionConstraints | None = None


class NumConstraints(_Wire):
    is_non_negative: bool | None = None


class StringConstraints(_Wire):
    domains: list[str] | None = None


class FeatureConstraints(_Wire):
    name: str
    inferred_type: InferredType
    completeness: Number | None = None
    num_constraints: NumConstraints | None = None
    string_constraints: StringConstraints | None = None
    monitoring_config_overrides: MonitoringConfig | None = Field(
        default=None,
        validation_alias=AliasChoices("monitoringConfigOverrides", "monitoring_config_overrides"),
        serialization_alias="monitoringConfigOverrides",
    )


class Constraints(_File):
    """``constraints.json``: what a dataset must satisfy, and how to compare it to the baseline."""

    version: Number = 0
    features: list[FeatureConstraints]
    monitoring_config: MonitoringConfig | None = None

    def feature(self, name: str) -> FeatureConstraints | None:
        return next((feature for feature in self.features if feature.name == name), None)

    @classmethod
    def _file_name(cls) -> str:
        return "constraints.json"


# --- constraint_violations.json -----------------------------------------------------------------


class ConstraintViolation(_Wire):
    feature_name: str
    constraint_check_type: ConstraintCheckType | str
    description: str


class ConstraintViolations(_File):
    """``constraint_violations.json``: the checks one dataset failed."""

    violations: list[ConstraintViolation] = Field(default_factory=list)

    def of_type(self, check: ConstraintCheckType) -> list[ConstraintViolation]:
        return [v for v in self.violations if v.constraint_check_type == check]

    @classmethod
    def _file_name(cls) -> str:
        return "constraint_violations.json"


def to_wire(model: BaseModel) -> dict[str, Any]:
    """Plain JSON-ready dict with the wire names, ``None`` left out."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
