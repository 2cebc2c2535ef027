"""Suggest ``constraints.json`` from a baseline profile, the way SageMaker's baseline job does.

Per feature:

- ``inferred_type`` is kept from the statistics;
- ``completeness`` is the observed non-null fraction (a later dataset must be at least as
  complete);
- numerical features get ``num_constraints.is_non_negative``: true when the minimum is >= 0
  (Deequ's NonNegativeNumbersRule);
- String features get ``string_constraints.domains``, the observed values, when Deequ's
  CategoricalRangeRule applies: the full value counts are known, there are at most 120 distinct
  values, and at most 10% of them were seen only once;
- ``monitoringConfigOverrides`` is written empty, as SageMaker does.

``monitoring_config`` carries the defaults of SageMaker's analyzer container
(``DataQualityMonitoringConfig`` / ``DataQualityDistributionConstraints``): both type and domain
thresholds 1.0 (every present value must match), drift comparison enabled with threshold 0.1 by
the ``Robust`` L-infinity method, and ``LInfinity`` for categorical features.
"""

from __future__ import annotations

import math

from mlgov.formats.baseline import (
    CategoricalDriftMethod,
    ComparisonMethod,
    Constraints,
    DistributionConstraints,
    FeatureConstraints,
    FeatureStatistics,
    InferredType,
    MonitoringConfig,
    NumConstraints,
    Statistics,
    StringConstraints,
    Toggle,
)

DOMAIN_MAX_DISTINCT = 120  # Deequ ColumnProfiler's lowCardinalityHistogramThreshold
DOMAIN_MAX_SINGLETON_RATIO = 0.1  # Deequ CategoricalRangeRule

DEFAULT_DATATYPE_CHECK_THRESHOLD = 1.0
DEFAULT_DOMAIN_CONTENT_THRESHOLD = 1.0
DEFAULT_COMPARISON_THRESHOLD = 0.1
DEFAULT_COMPARISON_METHOD = ComparisonMethod.ROBUST
DEFAULT_CATEGORICAL_DRIFT_METHOD = CategoricalDriftMethod.LINFINITY


def default_monitoring_config() -> MonitoringConfig:
    """Every ``monitoring_config`` field at the value SageMaker's container uses by default."""
    return MonitoringConfig(
        evaluate_constraints=Toggle.ENABLED,
        emit_metrics=Toggle.ENABLED,
        datatype_check_threshold=DEFAULT_DATATYPE_CHECK_THRESHOLD,
        domain_content_threshold=DEFAULT_DOMAIN_CONTENT_THRESHOLD,
        distribution_constraints=DistributionConstraints(
            perform_comparison=Toggle.ENABLED,
            comparison_threshold=DEFAULT_COMPARISON_THRESHOLD,
            comparison_method=DEFAULT_COMPARISON_METHOD,
            categorical_comparison_threshold=DEFAULT_COMPARISON_THRESHOLD,
            categorical_drift_method=DEFAULT_CATEGORICAL_DRIFT_METHOD,
        ),
    )


def suggest_constraints(statistics: Statistics) -> Constraints:
    """Constraints that the profiled dataset itself satisfies."""
    return Constraints(
        version=0.0,
        features=[_feature_constraints(feature) for feature in statistics.features],
        monitoring_config=default_monitoring_config(),
    )


def _feature_constraints(feature: FeatureStatistics) -> FeatureConstraints:
    common = feature.common
    rows = common.num_present + common.num_missing
    constraints = FeatureConstraints(
        name=feature.name,
        inferred_type=feature.inferred_type,
        completeness=common.num_present / rows if rows else 1.0,
        monitoring_config_overrides=MonitoringConfig(),
    )
    numerical = feature.numerical_statistics
    if feature.inferred_type in (InferredType.INTEGRAL, InferredType.FRACTIONAL):
        if numerical is not None and numerical.min is not None:
            constraints.num_constraints = NumConstraints(is_non_negative=numerical.min >= 0)
    elif feature.inferred_type is InferredType.STRING:
        domain = suggested_domain(feature)
        if domain is not None:
            constraints.string_constraints = StringConstraints(domains=domain)
    return constraints


def suggested_domain(feature: FeatureStatistics) -> list[str] | None:
    """The observed values, most frequent first, if the feature looks categorical."""
    strings = feature.string_statistics
    if strings is None or strings.distribution is None or strings.distribution.categorical is None:
        return None
    buckets = strings.distribution.categorical.buckets
    total = sum(float(bucket.count) for bucket in buckets)
    complete = math.isclose(total, strings.common.num_present, rel_tol=0, abs_tol=0.5)
    if not buckets or not complete or len(buckets) > DOMAIN_MAX_DISTINCT:
        return None
    singletons = sum(1 for bucket in buckets if float(bucket.count) == 1.0)
    if singletons / len(buckets) > DOMAIN_MAX_SINGLETON_RATIO:
        return None
    ordered = sorted(buckets, key=lambda bucket: (-float(bucket.count), bucket.value))
    return [bucket.value for bucket in ordered]
