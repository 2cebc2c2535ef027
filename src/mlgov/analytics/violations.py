"""Check a dataset against a baseline: ``constraint_violations.json`` with SageMaker's checks.

The checks and how each threshold reads (``monitoring_config``, overridable per feature through
``monitoringConfigOverrides``):

``missing_column_check`` / ``extra_column_check``
    a baseline feature absent from the current data / a current column the baseline lacks. One
    violation per column, matched by name (SageMaker's documentation speaks of column counts;
    names catch a swap that counts miss).
``data_type_check``
    the share of present values that fit the baseline's ``inferred_type`` is below
    ``datatype_check_threshold``. Integral accepts integers; Fractional accepts integers and
    fractions; String accepts any scalar. The threshold is the required share (SageMaker's
    container writes 1.0 and reports "Expected match: 100.0%").
``completeness_check``
    the non-null share is below the feature's ``completeness``.
``categorical_values_check``
    the share of present values inside ``string_constraints.domains`` is below
    ``domain_content_threshold`` (1.0: any unknown value is a violation).
``baseline_drift_check``
    the drift method flags the feature. By default the constraints decide: numerical features by
    L-infinity between the CDFs (``comparison_method`` ``Simple`` or ``Robust``) against
    ``comparison_threshold``; String features by ``categorical_drift_method`` (``LInfinity``
    distance, or ``ChiSquared`` whose p-value must not fall below the threshold) against
    ``categorical_comparison_threshold`` (default: ``comparison_threshold``). A ``drift`` argument
    overrides this with any :class:`~mlgov.analytics.drift.DriftMethod` or ``"auto"``.
``non_negative_check`` (mlgov extension)
    ``num_constraints.is_non_negative`` is true but the current minimum is negative. SageMaker's
    constraints carry the flag without naming a check for it; we report it rather than drop it.

``evaluate_constraints: Disabled`` turns off every check but drift; ``perform_comparison:
Disabled`` turns off drift.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel

from mlgov.analytics.constraints import (
    DEFAULT_CATEGORICAL_DRIFT_METHOD,
    DEFAULT_COMPARISON_METHOD,
    DEFAULT_COMPARISON_THRESHOLD,
    DEFAULT_DATATYPE_CHECK_THRESHOLD,
    DEFAULT_DOMAIN_CONTENT_THRESHOLD,
)
from mlgov.analytics.drift import (
    DEFAULT_BINS,
    DriftMethod,
    DriftResult,
    DriftSpec,
    FeatureDistribution,
    compute,
    compute_spec,
    distribution_of,
    spec_applies,
)
from mlgov.analytics.inputs import (
    DataFormat,
    DataSource,
    ReadOptions,
    detect_format,
    resolve_paths,
    with_options,
)
from mlgov.analytics.profile import DEFAULT_KLL_K, profile
from mlgov.formats.baseline import (
    CategoricalDriftMethod,
    ComparisonMethod,
    ConstraintCheckType,
    Constraints,
    ConstraintViolation,
    ConstraintViolations,
    FeatureConstraints,
    FeatureStatistics,
    InferredType,
    MonitoringConfig,
    Statistics,
    Toggle,
)

# Shares are ratios of counts; a hair of float slack keeps 0.9999999999 from failing 1.0.
_SHARE_TOLERANCE = 1e-9
_EXAMPLE_LIMIT = 5


@dataclass(frozen=True)
class EffectiveConfig:
    """``monitoring_config`` with a feature's overrides applied and every default filled in."""

    evaluate_constraints: bool
    emit_metrics: bool
    datatype_check_threshold: float
    domain_content_threshold: float
    perform_comparison: bool
    comparison_threshold: float
    comparison_method: ComparisonMethod
    categorical_comparison_threshold: float
    categorical_drift_method: CategoricalDriftMethod


def resolve_config(
    config: MonitoringConfig | None, override: MonitoringConfig | None = None
) -> EffectiveConfig:
    layers = [layer for layer in (override, config) if layer is not None]

    def pick(field: str) -> object:
        for layer in layers:
            value = getattr(layer, field)
            if value is not None:
                return value
        return None

    def pick_distribution(field: str) -> object:
        for layer in layers:
            distribution = layer.distribution_constraints
            if distribution is not None and getattr(distribution, field) is not None:
                return getattr(distribution, field)
        return None

    comparison_threshold = _as_float(
        pick_distribution("comparison_threshold"), DEFAULT_COMPARISON_THRESHOLD
    )
    return EffectiveConfig(
        evaluate_constraints=pick("evaluate_constraints") != Toggle.DISABLED,
        emit_metrics=pick("emit_metrics") != Toggle.DISABLED,
        datatype_check_threshold=_as_float(
            pick("datatype_check_threshold"), DEFAULT_DATATYPE_CHECK_THRESHOLD
        ),
        domain_content_threshold=_as_float(
            pick("domain_content_threshold"), DEFAULT_DOMAIN_CONTENT_THRESHOLD
        ),
        perform_comparison=pick_distribution("perform_comparison") != Toggle.DISABLED,
        comparison_threshold=comparison_threshold,
        comparison_method=ComparisonMethod(
            str(pick_distribution("comparison_method") or DEFAULT_COMPARISON_METHOD)
        ),
        categorical_comparison_threshold=_as_float(
            pick_distribution("categorical_comparison_threshold"), comparison_threshold
        ),
        categorical_drift_method=CategoricalDriftMethod(
            str(pick_distribution("categorical_drift_method") or DEFAULT_CATEGORICAL_DRIFT_METHOD)
        ),
    )


def _as_float(value: object, default: float) -> float:
    return default if value is None else float(value)  # type: ignore[arg-type]


class CheckReport(BaseModel):
    """Everything one check produced: the violations file, every drift result, the profile."""

    violations: ConstraintViolations
    drift: list[DriftResult]
    statistics: Statistics

    @property
    def has_violations(self) -> bool:
        return bool(self.violations.violations)


DriftSelection = DriftSpec | DriftMethod | Literal["auto"] | None


def check(
    current: Statistics | DataSource,
    baseline_statistics: Statistics,
    constraints: Constraints,
    *,
    options: ReadOptions | None = None,
    drift: DriftSelection = None,
    drift_features: Mapping[str, DriftSpec] | None = None,
    bins: int = DEFAULT_BINS,
    kll_k: int = DEFAULT_KLL_K,
) -> CheckReport:
    """Profile ``current`` (unless it is a profile already) and run every check.

    ``drift`` replaces the constraints' drift method for all features (``"auto"`` for the
    Evidently-style table; ``ks``/``wasserstein`` apply to numerical features only),
    ``drift_features`` for single features. Headerless captures and CSV
    take the baseline's feature names by position unless ``options.column_names`` is set.
    """
    statistics = (
        current
        if isinstance(current, Statistics)
        else profile(current, options=_naming_options(current, options, constraints), kll_k=kll_k)
    )
    overrides = dict(drift_features or {})
    default_spec = _as_spec(drift)
    global_config = resolve_config(constraints.monitoring_config)
    violations: list[ConstraintViolation] = []
    if global_config.evaluate_constraints:
        violations.extend(_column_checks(statistics, constraints))
    results: list[DriftResult] = []
    for constraint in constraints.features:
        feature = statistics.feature(constraint.name)
        if feature is None:
            continue
        config = resolve_config(
            constraints.monitoring_config, constraint.monitoring_config_overrides
        )
        if config.evaluate_constraints:
            violations.extend(_feature_checks(constraint, feature, config))
        if not config.perform_comparison:
            continue
        baseline_feature = baseline_statistics.feature(constraint.name)
        if baseline_feature is None:
            continue
        result = _drift(
            baseline_feature,
            feature,
            config,
            overrides.get(constraint.name),
            default_spec,
            bins,
        )
        if result is None:
            continue
        results.append(result)
        if result.drifted:
            violations.append(
                ConstraintViolation(
                    feature_name=constraint.name,
                    constraint_check_type=ConstraintCheckType.BASELINE_DRIFT,
                    description=result.describe(),
                )
            )
    return CheckReport(
        violations=ConstraintViolations(violations=violations), drift=results, statistics=statistics
    )


def evaluate(
    current: Statistics | DataSource,
    baseline_statistics: Statistics,
    constraints: Constraints,
    *,
    options: ReadOptions | None = None,
    drift: DriftSelection = None,
    drift_features: Mapping[str, DriftSpec] | None = None,
) -> ConstraintViolations:
    """The ``constraint_violations.json`` for ``current``; see :func:`check` for the rest."""
    return check(
        current,
        baseline_statistics,
        constraints,
        options=options,
        drift=drift,
        drift_features=drift_features,
    ).violations


def _as_spec(drift: DriftSelection) -> DriftSpec | None:
    if drift is None or isinstance(drift, DriftSpec):
        return drift
    return DriftSpec(method=drift)


def _naming_options(
    current: DataSource, options: ReadOptions | None, constraints: Constraints
) -> ReadOptions | None:
    return baseline_naming_options(
        current, options, [feature.name for feature in constraints.features]
    )


def baseline_naming_options(
    current: DataSource, options: ReadOptions | None, names: Sequence[str]
) -> ReadOptions | None:
    """``options`` naming positional columns (captures, headerless CSV) after the baseline's."""
    if options is not None and options.column_names is not None:
        return options
    if not _reads_positionally(current, options):
        return options
    return with_options(options, column_names=list(names))


def _reads_positionally(current: DataSource, options: ReadOptions | None) -> bool:
    if isinstance(current, list | tuple) and current:
        current = current[0]
    if not isinstance(current, str | os.PathLike):
        return False
    if options is not None and options.preprocess_handler is not None:
        return False
    files = resolve_paths(current)
    data_format = (options.format if options else None) or detect_format(files[0])
    if data_format is DataFormat.CAPTURE:
        return True
    return data_format is DataFormat.CSV and options is not None and not options.csv_header


# --- the checks ---------------------------------------------------------------------------------


def _column_checks(statistics: Statistics, constraints: Constraints) -> list[ConstraintViolation]:
    expected = [feature.name for feature in constraints.features]
    observed = [feature.name for feature in statistics.features]
    expected_set, observed_set = set(expected), set(observed)
    counts = (
        f"Number of columns in current dataset: {len(observed)}, "
        f"Number of columns in baseline constraints: {len(expected)}"
    )
    violations = [
        ConstraintViolation(
            feature_name=name,
            constraint_check_type=ConstraintCheckType.MISSING_COLUMN,
            description=f"There are missing columns in current dataset: {name!r} is absent. "
            + counts,
        )
        for name in expected
        if name not in observed_set
    ]
    violations.extend(
        ConstraintViolation(
            feature_name=name,
            constraint_check_type=ConstraintCheckType.EXTRA_COLUMN,
            description=f"There are extra columns in current dataset: {name!r} is not in the "
            "baseline. " + counts,
        )
        for name in observed
        if name not in expected_set
    )
    return violations


def _feature_checks(
    constraint: FeatureConstraints,
    feature: FeatureStatistics,
    config: EffectiveConfig,
) -> list[ConstraintViolation]:
    checks = [
        _data_type_check(constraint, feature, config),
        _completeness_check(constraint, feature),
        _non_negative_check(constraint, feature),
        _categorical_values_check(constraint, feature, config),
    ]
    return [violation for violation in checks if violation is not None]


def _percent(share: float) -> str:
    text = f"{share * 100:.1f}"
    if share < 1 and text == "100.0":
        text = f"{share * 100:.6f}".rstrip("0")
    return f"{text}%"


def conforming_share(feature: FeatureStatistics, expected: InferredType) -> float | None:
    """The share of present values that fit ``expected``; ``None`` if nothing is present."""
    present = feature.common.num_present
    if present == 0:
        return None
    if feature.mlgov is None:
        # A profile made elsewhere has no per-value type counts: judge by its inferred type.
        return 1.0 if _type_fits(feature.inferred_type, expected) else 0.0
    counts = feature.mlgov.type_counts
    if expected is InferredType.INTEGRAL:
        fitting = counts.integral
    elif expected is InferredType.FRACTIONAL:
        fitting = counts.integral + counts.fractional
    else:
        fitting = counts.integral + counts.fractional + counts.string
    return fitting / present


def _type_fits(observed: InferredType, expected: InferredType) -> bool:
    if expected is InferredType.STRING:
        return observed is not InferredType.UNKNOWN
    if expected is InferredType.FRACTIONAL:
        return observed in (InferredType.INTEGRAL, InferredType.FRACTIONAL)
    return observed is expected


def _data_type_check(
    constraint: FeatureConstraints, feature: FeatureStatistics, config: EffectiveConfig
) -> ConstraintViolation | None:
    expected = constraint.inferred_type
    if expected is InferredType.UNKNOWN:
        return None
    share = conforming_share(feature, expected)
    if share is None or share + _SHARE_TOLERANCE >= config.datatype_check_threshold:
        return None
    return ConstraintViolation(
        feature_name=constraint.name,
        constraint_check_type=ConstraintCheckType.DATA_TYPE,
        description=(
            f"Data type match requirement is not met. Expected data type: {expected.value}, "
            f"Expected match: {_percent(config.datatype_check_threshold)}. "
            f"Observed: Only {_percent(share)} of data is {expected.value}."
        ),
    )


def _completeness_check(
    constraint: FeatureConstraints, feature: FeatureStatistics
) -> ConstraintViolation | None:
    if constraint.completeness is None:
        return None
    common = feature.common
    rows = common.num_present + common.num_missing
    if rows == 0:
        return None
    observed = common.num_present / rows
    required = float(constraint.completeness)
    if observed + _SHARE_TOLERANCE >= required:
        return None
    return ConstraintViolation(
        feature_name=constraint.name,
        constraint_check_type=ConstraintCheckType.COMPLETENESS,
        description=(
            f"Data completeness requirement is not met. Expected: {_percent(required)}. "
            f"Observed: Only {_percent(observed)} of data is non-null."
        ),
    )


def _current_minimum(feature: FeatureStatistics) -> float | None:
    if feature.numerical_statistics is not None and feature.numerical_statistics.min is not None:
        return float(feature.numerical_statistics.min)
    if feature.mlgov is not None and feature.mlgov.numeric_min is not None:
        return feature.mlgov.numeric_min
    return None


def _non_negative_check(
    constraint: FeatureConstraints, feature: FeatureStatistics
) -> ConstraintViolation | None:
    if constraint.num_constraints is None or not constraint.num_constraints.is_non_negative:
        return None
    minimum = _current_minimum(feature)
    if minimum is None or minimum >= 0:
        return None
    share = ""
    distribution = distribution_of(feature)
    if distribution is not None and distribution.sample is not None:
        negative = distribution.sample.rank(np.array([0.0]), inclusive=False)[0]
        share = f" About {_percent(negative / distribution.count)} of values are negative."
    return ConstraintViolation(
        feature_name=constraint.name,
        constraint_check_type=ConstraintCheckType.NON_NEGATIVE,
        description=(
            f"Non-negativity requirement is not met. Observed minimum: {minimum:g}.{share}"
        ),
    )


def _categorical_values_check(
    constraint: FeatureConstraints, feature: FeatureStatistics, config: EffectiveConfig
) -> ConstraintViolation | None:
    strings = constraint.string_constraints
    if strings is None or not strings.domains:
        return None
    present = feature.common.num_present
    distribution = distribution_of(feature)
    if present == 0 or distribution is None or distribution.categories is None:
        return None
    domain = set(strings.domains)
    categories = distribution.categories
    inside = sum(count for value, count in categories.items() if value in domain)
    share = min(inside / present, 1.0)
    if share + _SHARE_TOLERANCE >= config.domain_content_threshold:
        return None
    unknown = sorted(
        ((value, count) for value, count in categories.items() if value not in domain),
        key=lambda item: (-item[1], item[0]),
    )
    examples = ", ".join(repr(value) for value, _count in unknown[:_EXAMPLE_LIMIT])
    return ConstraintViolation(
        feature_name=constraint.name,
        constraint_check_type=ConstraintCheckType.CATEGORICAL_VALUES,
        description=(
            "Categorical value match requirement is not met. Expected match: "
            f"{_percent(config.domain_content_threshold)} of values in the baseline domain. "
            f"Observed: Only {_percent(share)} of data is in the domain; "
            f"{len(unknown)} unknown value(s), most frequent: {examples}."
        ),
    )


def _drift(
    baseline_feature: FeatureStatistics,
    feature: FeatureStatistics,
    config: EffectiveConfig,
    feature_spec: DriftSpec | None,
    default_spec: DriftSpec | None,
    bins: int,
) -> DriftResult | None:
    baseline = distribution_of(baseline_feature)
    current = distribution_of(feature)
    if baseline is None or current is None or baseline.kind != current.kind:
        return None
    if feature_spec is not None:
        return compute_spec(feature_spec, baseline, current, bins=bins)
    # A method for every feature that compares numbers only leaves categories to the constraints.
    if default_spec is not None and spec_applies(default_spec, baseline):
        return compute_spec(default_spec, baseline, current, bins=bins)
    method, threshold = constraints_method(baseline, config)
    return compute(method, baseline, current, threshold=threshold, chosen_by="constraints")


def constraints_method(
    baseline: FeatureDistribution, config: EffectiveConfig
) -> tuple[DriftMethod, float]:
    """The method and threshold SageMaker's ``distribution_constraints`` ask for."""
    linf = (
        DriftMethod.LINF_ROBUST if config.comparison_method.is_robust else DriftMethod.LINF_SIMPLE
    )
    if baseline.kind == "numerical":
        return linf, config.comparison_threshold
    if config.categorical_drift_method is CategoricalDriftMethod.CHI_SQUARED:
        return DriftMethod.CHI_SQUARED, config.categorical_comparison_threshold
    return linf, config.categorical_comparison_threshold
