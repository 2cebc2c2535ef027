"""The monitoring engine: pure functions over Arrow data, no database and no HTTP.

Data quality::

    statistics = profile(data)                                # statistics.json
    constraints = suggest_constraints(statistics)             # constraints.json
    violations = evaluate(current, statistics, constraints)   # constraint_violations.json
    results = compare(statistics, profile(current), method="auto")
"""

from __future__ import annotations

from mlgov.analytics.bias import BiasConfig, bias_drift_check, bias_report
from mlgov.analytics.constraints import default_monitoring_config, suggest_constraints
from mlgov.analytics.custom import (
    BUILTIN_METRICS,
    CustomMetric,
    compute_custom_metrics,
    load_metric,
)
from mlgov.analytics.drift import (
    DriftMethod,
    DriftResult,
    DriftSpec,
    FeatureDistribution,
    choose_method,
    compare,
    compute,
    distribution_of,
)
from mlgov.analytics.inputs import (
    DataFormat,
    DataSource,
    PreprocessHandler,
    ReadOptions,
    iter_batches,
)
from mlgov.analytics.merge import MergeResult, MergeWindow, merge_ground_truth, parse_offset
from mlgov.analytics.model_quality import (
    compute_model_quality,
    evaluate_model_quality,
    suggest_model_quality_constraints,
    with_custom_metrics,
)
from mlgov.analytics.profile import Profiler, merge, profile
from mlgov.analytics.violations import CheckReport, check, evaluate, resolve_config

__all__ = [
    "BUILTIN_METRICS",
    "BiasConfig",
    "CheckReport",
    "CustomMetric",
    "DataFormat",
    "DataSource",
    "DriftMethod",
    "DriftResult",
    "DriftSpec",
    "FeatureDistribution",
    "MergeResult",
    "MergeWindow",
    "PreprocessHandler",
    "Profiler",
    "ReadOptions",
    "bias_drift_check",
    "bias_report",
    "check",
    "choose_method",
    "compare",
    "compute",
    "compute_custom_metrics",
    "compute_model_quality",
    "default_monitoring_config",
    "distribution_of",
    "evaluate",
    "evaluate_model_quality",
    "iter_batches",
    "load_metric",
    "merge",
    "merge_ground_truth",
    "parse_offset",
    "profile",
    "resolve_config",
    "suggest_constraints",
    "suggest_model_quality_constraints",
    "with_custom_metrics",
]
