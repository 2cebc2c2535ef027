"""Distribution drift between a baseline profile and a current one, feature by feature.

Every method works on profiles, not raw rows: numerical features through the weighted samples
their KLL sketches describe (:class:`~mlgov.analytics._sketch.WeightedSample`), categorical ones
through value counts. Methods:

==================  ===========  ========================================================  =======
method              kind         value                                                     default
==================  ===========  ========================================================  =======
``linf_simple``     distance     max |F_b - F_c| over both sketches' items (SageMaker)      0.1
``linf_robust``     distance     ``max(0, linf_simple - 1.8 * sqrt((n+m)/(n*m)))``          0.1
``ks``              p-value      two-sample Kolmogorov-Smirnov, asymptotic p-value          0.05
``wasserstein``     distance     W1 divided by the baseline's standard deviation            0.1
``psi``             distance     population stability index over baseline-decile bins       0.1
``jensen_shannon``  distance     Jensen-Shannon distance (natural log) of the same bins     0.1
``chi_squared``     p-value      Pearson goodness of fit of current counts to baseline's    0.05
``z_test``          p-value      two-proportion z-test (two categories)                     0.05
==================  ===========  ========================================================  =======

A distance drifts when it *exceeds* its threshold; a p-value method drifts when the p-value falls
*below* it. For categorical features ``linf_*`` is the L-infinity distance between the category
frequencies, exactly as Deequ (and so SageMaker) computes it, and ``chi_squared`` regroups rare
categories as Deequ does before testing. Numerical features with few distinct values (all values
known exactly, at most 64) use their exact value counts for the binned methods; continuous ones
are binned at the baseline's deciles, with open outer bins.

:func:`choose_method` is Evidently's default table (``n_unique`` over both datasets, "small"
meaning a baseline of at most 1,000 rows):

===========================  =====================  =========================
feature                      small baseline         larger baseline
===========================  =====================  =========================
numerical, > 5 unique        ``ks``                 ``wasserstein``
numerical, 3-5 unique        ``chi_squared``        ``jensen_shannon``
numerical, <= 2 unique       ``z_test``             ``jensen_shannon``
categorical, > 2 unique      ``chi_squared``        ``jensen_shannon``
categorical, <= 2 unique     ``z_test``             ``jensen_shannon``
===========================  =====================  =========================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import numpy as np
from pydantic import BaseModel

from mlgov.analytics._sketch import FloatArray, WeightedSample, decode_sketch
from mlgov.errors import ErrorCode, InvalidRequest
from mlgov.formats.baseline import FeatureStatistics, InferredType, Statistics

FeatureKind = Literal["numerical", "categorical"]

SMALL_BASELINE_ROWS = 1000
DEFAULT_BINS = 10
# Deequ's c(alpha) for alpha = 0.003 in the robust L-infinity correction.
ROBUST_C_ALPHA = 1.8
# Evidently's floor for empty bins in PSI, so the logarithm stays finite.
_EMPTY_BIN_SHARE = 1e-4
# Deequ's chi-squared regrouping thresholds (Cochran for 2x2, Yates otherwise).
_YATES_ABS_THRESHOLD = 5.0
_YATES_PERC_THRESHOLD = 0.2
_COCHRAN_ABS_THRESHOLD = 10.0


class DriftMethod(StrEnum):
    LINF_SIMPLE = "linf_simple"
    LINF_ROBUST = "linf_robust"
    KS = "ks"
    WASSERSTEIN = "wasserstein"
    PSI = "psi"
    JENSEN_SHANNON = "jensen_shannon"
    CHI_SQUARED = "chi_squared"
    Z_TEST = "z_test"

    @property
    def uses_p_value(self) -> bool:
        return self in _P_VALUE_METHODS


_P_VALUE_METHODS = frozenset({DriftMethod.KS, DriftMethod.CHI_SQUARED, DriftMethod.Z_TEST})
_NUMERICAL_ONLY = frozenset({DriftMethod.KS, DriftMethod.WASSERSTEIN})

DEFAULT_THRESHOLDS: Mapping[DriftMethod, float] = {
    DriftMethod.LINF_SIMPLE: 0.1,
    DriftMethod.LINF_ROBUST: 0.1,
    DriftMethod.KS: 0.05,
    DriftMethod.WASSERSTEIN: 0.1,
    DriftMethod.PSI: 0.1,
    DriftMethod.JENSEN_SHANNON: 0.1,
    DriftMethod.CHI_SQUARED: 0.05,
    DriftMethod.Z_TEST: 0.05,
}

ChosenBy = Literal["constraints", "auto", "user"]


class DriftResult(BaseModel):
    """One feature's comparison: which method, what it measured, against which threshold."""

    feature_name: str
    kind: FeatureKind
    method: DriftMethod
    value: float
    p_value: float | None = None
    threshold: float
    drifted: bool
    baseline_count: float
    current_count: float
    chosen_by: ChosenBy = "user"
    note: str | None = None

    def describe(self) -> str:
        """A one-line verdict naming the method and threshold."""
        if self.p_value is not None:
            relation = "is below" if self.drifted else "is not below"
            return (
                f"{self.kind.capitalize()} drift ({self.method.value}): p-value: "
                f"{self.p_value:.6g} {relation} threshold: {self.threshold:g}"
            )
        relation = "exceeds" if self.drifted else "does not exceed"
        return (
            f"{self.kind.capitalize()} drift ({self.method.value}): distance: "
            f"{self.value:.6g} {relation} threshold: {self.threshold:g}"
        )


@dataclass(frozen=True)
class DriftSpec:
    """A user's choice for one feature: a method (or ``"auto"``) and optionally a threshold."""

    method: DriftMethod | Literal["auto"] = "auto"
    threshold: float | None = None


@dataclass(frozen=True)
class FeatureDistribution:
    """What a profile knows about one feature's distribution."""

    name: str
    kind: FeatureKind
    count: float
    sample: WeightedSample | None = None
    categories: Mapping[str, float] | None = None
    std_dev: float | None = None

    @property
    def unique_count(self) -> int | None:
        return len(self.categories) if self.categories is not None else None


def _invalid(message: str) -> InvalidRequest:
    return InvalidRequest(message, code=ErrorCode.INVALID_DATA)


def _number_key(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def distribution_of(feature: FeatureStatistics) -> FeatureDistribution | None:
    """What a feature's statistics say about its distribution; ``None`` if nothing to compare."""
    if feature.inferred_type in (InferredType.INTEGRAL, InferredType.FRACTIONAL):
        return _numerical_distribution(feature)
    if feature.inferred_type is InferredType.STRING:
        return _categorical_distribution(feature)
    return None


def _numerical_distribution(feature: FeatureStatistics) -> FeatureDistribution | None:
    numerical = feature.numerical_statistics
    sketches = feature.mlgov
    sample: WeightedSample | None = None
    if sketches is not None and sketches.kll is not None:
        sample = WeightedSample.from_kll(decode_sketch(sketches.kll))
    elif numerical is not None and numerical.distribution and numerical.distribution.kll:
        kll = numerical.distribution.kll
        if kll.sketch is not None and kll.sketch.data:
            sample = WeightedSample.from_sagemaker_sketch(kll.sketch)
        elif kll.buckets:
            sample = WeightedSample.from_buckets(kll.buckets)
    if sample is None or sample.is_empty:
        return None
    categories = None
    if sketches is not None and sketches.numeric_values is not None:
        categories = {_number_key(value): float(count) for value, count in sketches.numeric_values}
    std_dev = float(numerical.std_dev) if numerical and numerical.std_dev is not None else None
    return FeatureDistribution(
        name=feature.name,
        kind="numerical",
        count=sample.total,
        sample=sample,
        categories=categories,
        std_dev=std_dev,
    )


def _categorical_distribution(feature: FeatureStatistics) -> FeatureDistribution | None:
    strings = feature.string_statistics
    if strings is None or strings.distribution is None or strings.distribution.categorical is None:
        return None
    counts: dict[str, float] = {}
    for bucket in strings.distribution.categorical.buckets:
        counts[bucket.value] = counts.get(bucket.value, 0.0) + float(bucket.count)
    total = sum(counts.values())
    if total <= 0:
        return None
    return FeatureDistribution(
        name=feature.name, kind="categorical", count=total, categories=counts
    )


# --- method choice ------------------------------------------------------------------------------


def choose_method(baseline: FeatureDistribution, current: FeatureDistribution) -> DriftMethod:
    """Evidently's default test for a feature (see the module docstring)."""
    unique = _union_unique(baseline, current)
    small = baseline.count <= SMALL_BASELINE_ROWS
    if baseline.kind == "numerical":
        if unique is None or unique > 5:
            return DriftMethod.KS if small else DriftMethod.WASSERSTEIN
        if unique >= 3:
            return DriftMethod.CHI_SQUARED if small else DriftMethod.JENSEN_SHANNON
        return DriftMethod.Z_TEST if small else DriftMethod.JENSEN_SHANNON
    if unique is None or unique > 2:
        return DriftMethod.CHI_SQUARED if small else DriftMethod.JENSEN_SHANNON
    return DriftMethod.Z_TEST if small else DriftMethod.JENSEN_SHANNON


def _union_unique(baseline: FeatureDistribution, current: FeatureDistribution) -> int | None:
    if baseline.categories is None or current.categories is None:
        return None
    return len(set(baseline.categories) | set(current.categories))


# --- computing one result -----------------------------------------------------------------------


def compute(
    method: DriftMethod,
    baseline: FeatureDistribution,
    current: FeatureDistribution,
    *,
    threshold: float | None = None,
    chosen_by: ChosenBy = "user",
    bins: int = DEFAULT_BINS,
) -> DriftResult:
    """Compare two distributions of one feature with ``method``."""
    if baseline.kind != current.kind:
        raise _invalid(
            f"feature {baseline.name!r} is {baseline.kind} in the baseline but {current.kind} "
            "now; drift needs the same kind on both sides"
        )
    if method in _NUMERICAL_ONLY and baseline.kind != "numerical":
        raise _invalid(f"{method.value} compares numerical features; {baseline.name!r} is not")
    limit = DEFAULT_THRESHOLDS[method] if threshold is None else float(threshold)
    value, p_value, note = _measure(method, baseline, current, bins)
    drifted = p_value < limit if p_value is not None else value > limit
    return DriftResult(
        feature_name=baseline.name,
        kind=baseline.kind,
        method=method,
        value=value,
        p_value=p_value,
        threshold=limit,
        drifted=bool(drifted) if note is None else False,
        baseline_count=baseline.count,
        current_count=current.count,
        chosen_by=chosen_by,
        note=note,
    )


def _measure(
    method: DriftMethod, baseline: FeatureDistribution, current: FeatureDistribution, bins: int
) -> tuple[float, float | None, str | None]:
    if method in (DriftMethod.LINF_SIMPLE, DriftMethod.LINF_ROBUST):
        simple, n, m = _linf(baseline, current)
        if method is DriftMethod.LINF_SIMPLE:
            return simple, None, None
        return robust_linf(simple, n, m), None, None
    if method is DriftMethod.KS:
        d, n, m = _linf(baseline, current, numerical_only=True)
        return d, ks_p_value(d, n, m), None
    if method is DriftMethod.WASSERSTEIN:
        return normed_wasserstein(baseline, current), None, None
    expected, observed = _binned_counts(baseline, current, bins)
    if method is DriftMethod.PSI:
        return psi(expected, observed), None, None
    if method is DriftMethod.JENSEN_SHANNON:
        return jensen_shannon(expected, observed), None, None
    if method is DriftMethod.CHI_SQUARED:
        statistic, p_value = deequ_chi_squared(observed, expected)
        if math.isnan(p_value):
            return 0.0, 1.0, "fewer than two categories remain after regrouping; not tested"
        return statistic, p_value, None
    if method is DriftMethod.Z_TEST:
        z, p_value = proportions_z_test(expected, observed)
        return z, p_value, None
    raise _invalid(f"unknown drift method {method!r}")  # pragma: no cover - exhaustive enum


def _linf(
    baseline: FeatureDistribution, current: FeatureDistribution, *, numerical_only: bool = False
) -> tuple[float, float, float]:
    if baseline.kind == "numerical":
        assert baseline.sample is not None
        assert current.sample is not None
        return linf_numerical(baseline.sample, current.sample)
    if numerical_only:
        raise _invalid(f"ks compares numerical features; {baseline.name!r} is categorical")
    assert baseline.categories is not None
    assert current.categories is not None
    return linf_categorical(baseline.categories, current.categories)


def linf_numerical(first: WeightedSample, second: WeightedSample) -> tuple[float, float, float]:
    """Deequ's numerical distance: max CDF gap over the union of both sketches' items."""
    if first.is_empty or second.is_empty:
        return 0.0, first.total, second.total
    keys = np.union1d(first.values, second.values)
    gap = np.abs(first.cdf(keys) - second.cdf(keys))
    return float(gap.max()), first.total, second.total


def linf_categorical(
    first: Mapping[str, float], second: Mapping[str, float]
) -> tuple[float, float, float]:
    """Deequ's categorical distance: max gap between category frequencies."""
    n = float(sum(first.values()))
    m = float(sum(second.values()))
    if n <= 0 or m <= 0:
        return 0.0, n, m
    keys = set(first) | set(second)
    gap = max(abs(first.get(key, 0.0) / n - second.get(key, 0.0) / m) for key in keys)
    return float(gap), n, m


def robust_linf(simple: float, n: float, m: float, c_alpha: float = ROBUST_C_ALPHA) -> float:
    """Deequ's small-sample correction: subtract the KS critical value at alpha ~ 0.003."""
    if n <= 0 or m <= 0:
        return 0.0
    return max(0.0, simple - c_alpha * math.sqrt((n + m) / (n * m)))


def ks_p_value(d: float, n: float, m: float) -> float:
    """Two-sided asymptotic p-value of the two-sample KS statistic (scipy's ``asymp`` method)."""
    if n <= 0 or m <= 0:
        return 1.0
    # scipy.stats costs a second to import; only this test needs it.
    from scipy import stats

    large, small = sorted((float(n), float(m)), reverse=True)
    effective = round(large * small / (large + small))
    if effective < 1:
        return 1.0
    return float(np.clip(stats.kstwo.sf(d, effective), 0.0, 1.0))


def wasserstein_distance(first: WeightedSample, second: WeightedSample) -> float:
    """W1: the area between the two CDFs."""
    if first.is_empty or second.is_empty:
        return 0.0
    points = np.union1d(first.values, second.values)
    gaps = np.abs(first.cdf(points[:-1]) - second.cdf(points[:-1]))
    return float(np.sum(gaps * np.diff(points)))


def normed_wasserstein(baseline: FeatureDistribution, current: FeatureDistribution) -> float:
    """Evidently's ``wasserstein``: W1 over the baseline's standard deviation (at least 0.001)."""
    assert baseline.sample is not None
    assert current.sample is not None
    spread = baseline.std_dev if baseline.std_dev is not None else _std(baseline.sample)
    return wasserstein_distance(baseline.sample, current.sample) / max(spread, 0.001)


def _std(sample: WeightedSample) -> float:
    weights = sample.weights
    mean = float(np.average(sample.values, weights=weights))
    return math.sqrt(float(np.average((sample.values - mean) ** 2, weights=weights)))


def _binned_counts(
    baseline: FeatureDistribution, current: FeatureDistribution, bins: int
) -> tuple[FloatArray, FloatArray]:
    """Aligned counts (baseline, current) over categories or over the baseline's quantile bins."""
    if baseline.categories is not None and current.categories is not None:
        keys = sorted(set(baseline.categories) | set(current.categories))
        expected = np.array([baseline.categories.get(key, 0.0) for key in keys])
        observed = np.array([current.categories.get(key, 0.0) for key in keys])
        return expected, observed
    if baseline.sample is None or current.sample is None:
        raise _invalid(f"feature {baseline.name!r} has no distribution to bin")
    if bins < 2:
        raise _invalid(f"bins must be at least 2, got {bins}")
    inner = np.unique(baseline.sample.quantiles(np.arange(1, bins) / bins))
    expected = _interval_counts(baseline.sample, inner)
    observed = _interval_counts(current.sample, inner)
    return expected, observed


def _interval_counts(sample: WeightedSample, edges: FloatArray) -> FloatArray:
    """Weights in (-inf, e1], (e1, e2], ..., (ek, inf)."""
    cumulative = np.concatenate(([0.0], sample.rank(edges), [sample.total]))
    return np.diff(cumulative)


def _shares(counts: FloatArray) -> FloatArray:
    total = counts.sum()
    return counts / total if total > 0 else np.zeros_like(counts)


def psi(expected: FloatArray, observed: FloatArray) -> float:
    """Population stability index; empty bins count as a 0.01% share, as in Evidently."""
    baseline_share = np.where(_shares(expected) == 0, _EMPTY_BIN_SHARE, _shares(expected))
    current_share = np.where(_shares(observed) == 0, _EMPTY_BIN_SHARE, _shares(observed))
    return float(np.sum((baseline_share - current_share) * np.log(baseline_share / current_share)))


def jensen_shannon(expected: FloatArray, observed: FloatArray) -> float:
    """Jensen-Shannon distance with natural logarithms (scipy's default, Evidently's choice)."""
    if expected.sum() <= 0 or observed.sum() <= 0:
        return 0.0
    p, q = _shares(expected), _shares(observed)
    mixture = (p + q) / 2
    divergence = (_relative_entropy(p, mixture) + _relative_entropy(q, mixture)) / 2
    return math.sqrt(max(divergence, 0.0))


def _relative_entropy(p: FloatArray, q: FloatArray) -> float:
    support = p > 0
    return float(np.sum(p[support] * np.log(p[support] / q[support])))


def deequ_chi_squared(observed: FloatArray, expected: FloatArray) -> tuple[float, float]:
    """Deequ's categorical chi-squared: (statistic, p-value), NaN when it cannot be tested.

    Categories new in the current data are left out (the categorical-values check covers them),
    baseline counts are scaled to the current total, and the smallest categories are merged into
    the next smallest until the expected counts satisfy Cochran's (2 categories: all >= 10) or
    Yates's (more: at most 20% below 5) rule.
    """
    known = expected > 0
    current_counts = observed[known].astype(np.float64)
    baseline_counts = expected[known].astype(np.float64)
    current_total = float(current_counts.sum())
    if baseline_counts.size < 2 or current_total <= 0:
        return math.nan, math.nan
    scaled = baseline_counts / baseline_counts.sum() * current_total
    sample, expected_counts = _regroup(current_counts.tolist(), scaled.tolist())
    if len(expected_counts) < 2:
        return math.nan, math.nan
    from scipy import special  # a fifth of a second to import; only this test needs it

    observed_array, expected_array = np.array(sample), np.array(expected_counts)
    statistic = float(np.sum((observed_array - expected_array) ** 2 / expected_array))
    return statistic, float(special.chdtrc(len(expected_counts) - 1, statistic))


def _regroup(sample: list[float], expected: list[float]) -> tuple[list[float], list[float]]:
    while len(expected) >= 2:
        if len(expected) > 2:
            limit, allowed = _YATES_ABS_THRESHOLD, int(_YATES_PERC_THRESHOLD * len(expected))
        else:
            limit, allowed = _COCHRAN_ABS_THRESHOLD, 0
        if sum(1 for value in expected if value < limit) <= allowed:
            break
        smallest = int(np.argmin(expected))
        moved_expected = expected.pop(smallest)
        moved_sample = sample.pop(smallest)
        if not expected:
            break
        target = int(np.argmin(expected))
        expected[target] += moved_expected
        sample[target] += moved_sample
    return sample, expected


def proportions_z_test(expected: FloatArray, observed: FloatArray) -> tuple[float, float]:
    """Two-proportion z-test on the share of the first category (Evidently's ``z``)."""
    if expected.size > 2 or observed.size > 2:
        raise _invalid("z_test compares features with at most two categories")
    n1, n2 = float(expected.sum()), float(observed.sum())
    if n1 <= 0 or n2 <= 0:
        return 0.0, 1.0
    p1, p2 = expected[0] / n1, observed[0] / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    if pooled <= 0 or pooled >= 1:
        return 0.0, 1.0
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    # Two-sided normal tail: 2 * (1 - Phi(|z|)) = erfc(|z| / sqrt(2)).
    return float(z), math.erfc(abs(z) / math.sqrt(2))


# --- whole profiles -----------------------------------------------------------------------------


def compare(
    baseline: Statistics,
    current: Statistics,
    *,
    method: DriftMethod | Literal["auto"] = "auto",
    threshold: float | None = None,
    features: Mapping[str, DriftSpec] | None = None,
    bins: int = DEFAULT_BINS,
) -> list[DriftResult]:
    """Drift of every feature present in both profiles.

    ``method``/``threshold`` apply to every feature (categorical ones take :func:`choose_method`
    when ``method`` compares numbers only); ``features`` overrides them per feature.
    Features whose type changed kind (numerical vs categorical) or that have no values on one
    side are left out: the data-type and completeness checks report those.
    """
    overrides = dict(features or {})
    results = []
    for feature in baseline.features:
        other = current.feature(feature.name)
        if other is None:
            continue
        base_distribution = distribution_of(feature)
        current_distribution = distribution_of(other)
        if (
            base_distribution is None
            or current_distribution is None
            or base_distribution.kind != current_distribution.kind
        ):
            continue
        spec = overrides.get(feature.name)
        if spec is None:
            # A numerical-only method asked for every feature leaves categories to the table.
            spec = DriftSpec(method, threshold)
            if not spec_applies(spec, base_distribution):
                spec = DriftSpec("auto")
        results.append(compute_spec(spec, base_distribution, current_distribution, bins=bins))
    return results


def spec_applies(spec: DriftSpec, distribution: FeatureDistribution) -> bool:
    """Whether ``spec`` can compare this kind of feature (KS and Wasserstein need numbers)."""
    return not (spec.method in _NUMERICAL_ONLY and distribution.kind != "numerical")


def compute_spec(
    spec: DriftSpec,
    baseline: FeatureDistribution,
    current: FeatureDistribution,
    *,
    bins: int = DEFAULT_BINS,
) -> DriftResult:
    if spec.method == "auto":
        chosen = choose_method(baseline, current)
        return compute(
            chosen, baseline, current, threshold=spec.threshold, chosen_by="auto", bins=bins
        )
    return compute(DriftMethod(spec.method), baseline, current, threshold=spec.threshold, bins=bins)
