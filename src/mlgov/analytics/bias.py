"""Bias metrics for a facet and a label, as SageMaker Clarify defines them, and bias drift.

Notation (Clarify's): facet *d* is the sensitive (disfavoured) group, the rows whose facet value is
one of the configured values or above the configured threshold; facet *a* is everyone else.
n_a, n_d are the group sizes; n_x(1), n_x(0) the observed positive and negative labels in group x;
primes are predicted labels; q_x = n_x(1)/n_x. A label is positive when it is one of the positive
label values, or above the label threshold; a predicted label likewise, or, with a probability
threshold, when the score is at or above it.

Pre-training (labels only): CI, DPL, KL, JS, LP, TVD, KS, CDDL. Post-training (labels and
predictions): DPPL, DI, DCA, DCR, RD, DAR, DRR, SD, AD, TE, CDDPL, FT, GE. As in Clarify, the
distribution metrics (KL, JS, LP, TVD, KS) compare the facets' distributions of the *positive /
negative* outcome, and ratios follow Clarify's rule: 0/0 is 0, x/0 is infinite, and the difference
of two infinite rates is 0. KL is infinite when facet *a* has an outcome facet *d* never has (the
mathematical value; Clarify drops such outcomes instead). FT follows the Developer Guide: F+ counts
members of *d* predicted negative whose nearest neighbours in *a* were predicted positive.

Every metric except FT is a function of the cell counts (facet x label x prediction x group), so
each is computed from one ``bincount`` and bootstrap confidence intervals resample those cells
(multinomially) instead of rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from mlgov.analytics.model_quality import class_name_of
from mlgov.errors import ErrorCode, InvalidRequest
from mlgov.formats.bias import (
    BiasAnalysis,
    BiasMetricResult,
    BiasStageReport,
    BiasViolation,
    BiasViolations,
    FacetValueReport,
)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Cells = FloatArray  # shape (2, 2, 2, groups): facet (a=0, d=1) x label x prediction x group

PRE_TRAINING_METRICS = ("CI", "DPL", "KL", "JS", "LP", "TVD", "KS", "CDDL")
POST_TRAINING_METRICS = (
    "DPPL",
    "DI",
    "DCA",
    "DCR",
    "RD",
    "DAR",
    "DRR",
    "SD",
    "AD",
    "TE",
    "CDDPL",
    "FT",
    "GE",
)
DESCRIPTIONS = {
    "CI": "Class Imbalance (CI)",
    "DPL": "Difference in Positive Proportions in Labels (DPL)",
    "KL": "Kullback-Leibler Divergence (KL)",
    "JS": "Jensen-Shannon Divergence (JS)",
    "LP": "L-p Norm (LP)",
    "TVD": "Total Variation Distance (TVD)",
    "KS": "Kolmogorov-Smirnov Distance (KS)",
    "CDDL": "Conditional Demographic Disparity in Labels (CDDL)",
    "DPPL": "Difference in Positive Proportions in Predicted Labels (DPPL)",
    "DI": "Disparate Impact (DI)",
    "DCA": "Difference in Conditional Acceptance (DCA)",
    "DCR": "Difference in Conditional Rejection (DCR)",
    "RD": "Recall Difference (RD)",
    "DAR": "Difference in Acceptance Rates (DAR)",
    "DRR": "Difference in Rejection Rates (DRR)",
    "SD": "Specificity Difference (SD)",
    "AD": "Accuracy Difference (AD)",
    "TE": "Treatment Equality (TE)",
    "CDDPL": "Conditional Demographic Disparity in Predicted Labels (CDDPL)",
    "FT": "Flip Test (FT)",
    "GE": "Generalized Entropy (GE)",
}
# Metrics >= 0 where 0 means no bias; drift is a rise above the baseline.
DIVERGENCES = frozenset({"KL", "JS", "LP", "TVD", "KS", "GE"})
# A ratio where 1 means no bias; drift is moving farther from 1 (in log scale) than the baseline.
RATIOS = frozenset({"DI"})
GROUP_METRICS = frozenset({"CDDL", "CDDPL"})
LP_ORDER = 2
GE_ALPHA = 2.0
FT_NEIGHBOURS = 5
FT_MIN_ADVANTAGED_ROWS = 10  # below this, one neighbour: five would reach across the whole facet


def _invalid(message: str) -> InvalidRequest:
    return InvalidRequest(message, code=ErrorCode.INVALID_DATA)


class MetricUndefined(Exception):
    """The metric has no value on this data (an empty facet, no positive labels, ...)."""


@dataclass(frozen=True)
class BiasConfig:
    """Which column is the label and which is the facet, and what counts as positive / sensitive.

    Give either values or a threshold for the label (positive outcome) and for the facet
    (sensitive group *d*). With neither for the facet, each facet value in turn is *d* against all
    other rows. ``predicted_label`` is needed for post-training metrics; with
    ``probability_threshold`` it holds scores, positive when at or above the threshold.
    ``group_variable`` enables CDDL/CDDPL; ``ft_features`` are the numeric columns FlipTest
    measures neighbours on (default: every numeric column that is not the label, prediction,
    facet or group).
    """

    label: str
    facet: str
    label_values: Sequence[object] | None = None
    label_threshold: float | None = None
    facet_values: Sequence[object] | None = None
    facet_threshold: float | None = None
    predicted_label: str | None = None
    probability_threshold: float | None = None
    group_variable: str | None = None
    ft_features: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if (self.label_values is None) == (self.label_threshold is None):
            raise _invalid("give either label_values or label_threshold for the positive outcome")
        if self.label_values is not None and len(self.label_values) == 0:
            raise _invalid("label_values is empty: name at least one positive label value")
        if self.facet_values is not None and self.facet_threshold is not None:
            raise _invalid("give facet_values or facet_threshold, not both")
        if self.facet_values is not None and len(self.facet_values) == 0:
            raise _invalid("facet_values is empty: name at least one sensitive facet value")
        for name, bound in (
            ("label_threshold", self.label_threshold),
            ("facet_threshold", self.facet_threshold),
            ("probability_threshold", self.probability_threshold),
        ):
            if bound is not None and not math.isfinite(bound):
                raise _invalid(f"{name} must be finite, not {bound}")

    @property
    def label_value_or_threshold(self) -> str:
        if self.label_values is not None:
            return ",".join(class_name_of(v) for v in self.label_values)
        return _number_text(self.label_threshold)


# --------------------------------------------------------------------------------------------
# Reports


def bias_report(
    data: pa.Table,
    config: BiasConfig,
    *,
    methods: Sequence[str] | str = "all",
    pre_training: bool = True,
    post_training: bool | None = None,
    bootstrap_samples: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
) -> BiasAnalysis:
    """Compute bias metrics into Clarify's ``analysis.json`` shape.

    Args:
        methods: metric short names (``["CI", "DPPL"]``) or ``"all"``. With ``"all"``, metrics
            whose inputs are not configured (CDDL/CDDPL without a group variable, FT without
            numeric features) are left out; named explicitly, they are an error.
        post_training: compute post-training metrics; default: when a predicted label is set.
        bootstrap_samples: when > 0, attach a normal bootstrap confidence interval to each metric
            (except FT), which the drift check then uses instead of the point value.
        confidence: the interval's coverage.
        seed: seeds the bootstrap.

    A metric with no value on this data (an empty facet group, no positive labels in any group,
    ...) is reported with an ``error`` and no value, as Clarify does; malformed input raises
    :class:`InvalidRequest` (``INVALID_DATA``).
    """
    if post_training is None:
        post_training = config.predicted_label is not None
    if post_training and config.predicted_label is None:
        raise _invalid("post-training bias metrics need a predicted_label column")
    if bootstrap_samples < 0:
        raise _invalid(f"bootstrap_samples must be >= 0, not {bootstrap_samples}")
    if not 0 < confidence < 1:
        raise _invalid(f"confidence must be between 0 and 1, not {confidence}")
    pre_methods, post_methods = _select_methods(methods, config, pre_training, post_training)
    prepared = _Prepared.from_table(data, config, with_predictions=post_training)
    ft_matrix = prepared.ft_features(data, config) if "FT" in post_methods else None
    if ft_matrix is None and "FT" in post_methods:
        if methods != "all":
            raise _invalid(
                "FT needs numeric feature columns besides the label, prediction, facet and group"
            )
        post_methods = tuple(m for m in post_methods if m != "FT")

    rng = np.random.default_rng(seed)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    stages: dict[str, BiasStageReport] = {}
    for stage_key, stage_methods in (
        ("pre_training_bias_metrics", pre_methods),
        ("post_training_bias_metrics", post_methods),
    ):
        if not stage_methods:
            continue
        reports = []
        for value_text, sensitive in prepared.facet_groups(config):
            cells = prepared.cells(sensitive)
            results = []
            for name in stage_methods:
                results.append(
                    _metric_result(
                        name, cells, prepared, sensitive, ft_matrix, bootstrap_samples, z, rng
                    )
                )
            reports.append(FacetValueReport(value_or_threshold=value_text, metrics=results))
        stages[stage_key] = BiasStageReport(
            label=config.label,
            label_value_or_threshold=config.label_value_or_threshold,
            facets={config.facet: reports},
        )
    return BiasAnalysis.model_validate(stages)


def bias_drift_check(current: BiasAnalysis, baseline: BiasAnalysis) -> BiasViolations:
    """Compare a current report with a baseline report: one violation per metric that drifted.

    The baseline value b of each metric sets the allowed range: [-|b|, |b|] for signed metrics
    (a value farther from 0 than the baseline violates, so with DPPL baseline 0.2, 0.1 passes and
    -0.3 violates), [0, b] for divergences (KL, JS, LP, TVD, KS, GE), and for DI the values no
    farther from 1 in log scale than b ([0.8, 1.25] for b = 0.8). When the current metric carries a
    confidence interval, it violates only if the whole interval lies outside the range, as
    Clarify's monitor does with its bootstrap intervals; otherwise the point value is compared.
    Metrics without a value on either side are skipped.
    """
    violations: list[BiasViolation] = []
    for facet, facet_value, result, baseline_value in _paired_results(current, baseline):
        assert result.value is not None
        low, high = allowed_range(result.name, baseline_value)
        observed_low, observed_high = result.confidence_interval or (result.value, result.value)
        if observed_high < low or observed_low > high:
            violations.append(
                BiasViolation(
                    facet=facet,
                    facet_value=facet_value,
                    metric_name=result.name,
                    description=(
                        f"Value {result.value} does not meet the constraint requirement: "
                        f"outside [{low}, {high}] allowed by the baseline value {baseline_value}"
                    ),
                )
            )
    return BiasViolations(violations=violations)


def _paired_results(
    current: BiasAnalysis, baseline: BiasAnalysis
) -> Iterator[tuple[str, str, BiasMetricResult, float]]:
    """(facet, facet value, current result, baseline value) for metrics valued on both sides."""
    for stage_key in ("pre_training_bias_metrics", "post_training_bias_metrics"):
        now: BiasStageReport | None = getattr(current, stage_key)
        then: BiasStageReport | None = getattr(baseline, stage_key)
        if now is None or then is None:
            continue
        if (now.label, now.label_value_or_threshold) != (then.label, then.label_value_or_threshold):
            raise _invalid(
                f"{stage_key}: current label {now.label}={now.label_value_or_threshold} does not "
                f"match the baseline's {then.label}={then.label_value_or_threshold}"
            )
        for facet, reports in now.facets.items():
            for report in reports:
                reference = then.facet_value(facet, report.value_or_threshold)
                if reference is None:
                    continue
                for result in report.metrics:
                    before = reference.metric(result.name)
                    if result.value is not None and before is not None and before.value is not None:
                        yield facet, report.value_or_threshold, result, before.value


def allowed_range(metric: str, baseline: float) -> tuple[float, float]:
    """The range a metric may drift within, given its baseline value."""
    if math.isnan(baseline):
        return (-math.inf, math.inf)
    if metric in DIVERGENCES:
        return (0.0, max(baseline, 0.0))
    if metric in RATIOS:
        if baseline <= 0 or math.isinf(baseline):
            return (0.0, math.inf)
        return (min(baseline, 1 / baseline), max(baseline, 1 / baseline))
    return (-abs(baseline), abs(baseline))


# --------------------------------------------------------------------------------------------
# Metric definitions over the cell counts


def _divide(numerator: float, denominator: float) -> float:
    if denominator == 0:
        if numerator == 0:
            return 0.0
        return math.inf if numerator > 0 else -math.inf
    return numerator / denominator


def _difference(left: float, right: float) -> float:
    if math.isinf(left) and left == right:
        return 0.0
    return left - right


@dataclass(frozen=True)
class _Counts:
    """Named sums over the cell tensor for one facet group (0 = a, 1 = d)."""

    cells: Cells

    def n(self, x: int) -> float:
        return float(self.cells[x].sum())

    def labelled(self, x: int, y: int) -> float:
        return float(self.cells[x, y].sum())

    def predicted(self, x: int, y: int) -> float:
        return float(self.cells[x, :, y].sum())

    def outcome(self, x: int, y: int, y_hat: int) -> float:
        return float(self.cells[x, y, y_hat].sum())

    def require_both_facets(self) -> None:
        if self.n(1) == 0:
            raise MetricUndefined("facet d (the sensitive group) has no rows")
        if self.n(0) == 0:
            raise MetricUndefined("facet a (every row outside the sensitive group) has no rows")


def _outcome_distributions(counts: _Counts, predicted: bool) -> tuple[FloatArray, FloatArray]:
    counts.require_both_facets()
    take = counts.predicted if predicted else counts.labelled
    p_a = np.array([take(0, 0), take(0, 1)]) / counts.n(0)
    p_d = np.array([take(1, 0), take(1, 1)]) / counts.n(1)
    return p_a, p_d


def _kl(p: FloatArray, q: FloatArray) -> float:
    support = p > 0
    if np.any(q[support] == 0):
        return math.inf
    return float(np.sum(p[support] * np.log(p[support] / q[support])))


def _ci(c: _Counts) -> float:
    c.require_both_facets()
    return (c.n(0) - c.n(1)) / (c.n(0) + c.n(1))


def _dpl(c: _Counts, predicted: bool) -> float:
    p_a, p_d = _outcome_distributions(c, predicted)
    return float(p_a[1] - p_d[1])


def _js(c: _Counts) -> float:
    p_a, p_d = _outcome_distributions(c, False)
    mixture = (p_a + p_d) / 2
    return 0.5 * (_kl(p_a, mixture) + _kl(p_d, mixture))


def _lp(c: _Counts, order: float) -> float:
    p_a, p_d = _outcome_distributions(c, False)
    return float(np.linalg.norm(p_a - p_d, order))


def _cdd(c: _Counts, predicted: bool) -> float:
    c.require_both_facets()
    # Per group: share of d among negatives minus share of d among positives.
    by_facet = c.cells.sum(axis=1 if predicted else 2)  # facet x outcome x group
    negatives = by_facet[:, 0].sum(axis=0)
    positives = by_facet[:, 1].sum(axis=0)
    if positives.sum() == 0:
        raise MetricUndefined("no positive outcomes in any group")
    if negatives.sum() == 0:
        raise MetricUndefined("no negative outcomes in any group")
    d_negative_share = np.zeros_like(negatives)
    np.divide(by_facet[1, 0], negatives, out=d_negative_share, where=negatives > 0)
    d_positive_share = np.zeros_like(positives)
    np.divide(by_facet[1, 1], positives, out=d_positive_share, where=positives > 0)
    group_sizes = c.cells.sum(axis=(0, 1, 2))
    return float(np.sum(group_sizes * (d_negative_share - d_positive_share)) / group_sizes.sum())


def _di(c: _Counts) -> float:
    c.require_both_facets()
    q_a = c.predicted(0, 1) / c.n(0)
    q_d = c.predicted(1, 1) / c.n(1)
    return _divide(q_d, q_a)


def _dca(c: _Counts) -> float:
    c.require_both_facets()
    return _difference(
        _divide(c.labelled(0, 1), c.predicted(0, 1)), _divide(c.labelled(1, 1), c.predicted(1, 1))
    )


def _dcr(c: _Counts) -> float:
    c.require_both_facets()
    return _difference(
        _divide(c.labelled(1, 0), c.predicted(1, 0)), _divide(c.labelled(0, 0), c.predicted(0, 0))
    )


def _rate(c: _Counts, x: int, hit: tuple[int, int], miss: tuple[int, int]) -> float:
    hits = c.outcome(x, *hit)
    return _divide(hits, hits + c.outcome(x, *miss))


def _rd(c: _Counts) -> float:
    c.require_both_facets()
    return _difference(_rate(c, 0, (1, 1), (1, 0)), _rate(c, 1, (1, 1), (1, 0)))


def _dar(c: _Counts) -> float:
    c.require_both_facets()
    return _difference(_rate(c, 0, (1, 1), (0, 1)), _rate(c, 1, (1, 1), (0, 1)))


def _drr(c: _Counts) -> float:
    c.require_both_facets()
    return _difference(_rate(c, 1, (0, 0), (1, 0)), _rate(c, 0, (0, 0), (1, 0)))


def _sd(c: _Counts) -> float:
    c.require_both_facets()
    return _difference(_rate(c, 1, (0, 0), (0, 1)), _rate(c, 0, (0, 0), (0, 1)))


def _ad(c: _Counts) -> float:
    c.require_both_facets()

    def accuracy(x: int) -> float:
        return _divide(c.outcome(x, 1, 1) + c.outcome(x, 0, 0), c.n(x))

    return _difference(accuracy(0), accuracy(1))


def _te(c: _Counts) -> float:
    c.require_both_facets()
    return _difference(
        _divide(c.outcome(1, 1, 0), c.outcome(1, 0, 1)),
        _divide(c.outcome(0, 1, 0), c.outcome(0, 0, 1)),
    )


def _ge(c: _Counts) -> float:
    # Benefit b = y_hat - y + 1: 0 for a false negative, 1 when right, 2 for a false positive.
    by_outcome = c.cells.sum(axis=(0, 3))  # (label, prediction)
    benefits = np.array([[1.0, 2.0], [0.0, 1.0]])
    n = float(by_outcome.sum())
    if n == 0:
        raise MetricUndefined("no rows")
    mean = float(np.sum(by_outcome * benefits)) / n
    if mean == 0:
        raise MetricUndefined("every prediction is a false negative (mean benefit 0)")
    terms = (benefits / mean) ** GE_ALPHA - 1
    return float(np.sum(by_outcome * terms)) / (n * GE_ALPHA * (GE_ALPHA - 1))


_CELL_METRICS: dict[str, Callable[[_Counts], float]] = {
    "CI": _ci,
    "DPL": lambda c: _dpl(c, predicted=False),
    "KL": lambda c: _kl(*_outcome_distributions(c, False)),
    "JS": _js,
    "LP": lambda c: _lp(c, LP_ORDER),
    "TVD": lambda c: 0.5 * _lp(c, 1),
    "KS": lambda c: _lp(c, math.inf),
    "CDDL": lambda c: _cdd(c, predicted=False),
    "DPPL": lambda c: _dpl(c, predicted=True),
    "DI": _di,
    "DCA": _dca,
    "DCR": _dcr,
    "RD": _rd,
    "DAR": _dar,
    "DRR": _drr,
    "SD": _sd,
    "AD": _ad,
    "TE": _te,
    "CDDPL": lambda c: _cdd(c, predicted=True),
    "GE": _ge,
}


def _flip_test(features: FloatArray, sensitive: BoolArray, predicted_positive: BoolArray) -> float:
    if not sensitive.any():
        raise MetricUndefined("facet d (the sensitive group) has no rows")
    if sensitive.all():
        raise MetricUndefined("facet a (every row outside the sensitive group) has no rows")
    from scipy.spatial import cKDTree  # only FlipTest needs it; keeps the package import light

    advantaged = features[~sensitive]
    neighbours = FT_NEIGHBOURS if len(advantaged) >= FT_MIN_ADVANTAGED_ROWS else 1
    _, index = cKDTree(advantaged).query(features[sensitive], k=neighbours)
    votes = predicted_positive[~sensitive][np.asarray(index).reshape(-1, neighbours)]
    counterfactual = votes.sum(axis=1) * 2 > neighbours
    own = predicted_positive[sensitive]
    flipped_up = int(np.count_nonzero(~own & counterfactual))
    flipped_down = int(np.count_nonzero(own & ~counterfactual))
    return (flipped_up - flipped_down) / int(sensitive.sum())


def _metric_result(
    name: str,
    cells: Cells,
    prepared: _Prepared,
    sensitive: BoolArray,
    ft_matrix: FloatArray | None,
    bootstrap_samples: int,
    z: float,
    rng: np.random.Generator,
) -> BiasMetricResult:
    description = DESCRIPTIONS[name]
    try:
        if name == "FT":
            assert ft_matrix is not None
            assert prepared.predicted is not None
            value = _flip_test(ft_matrix, sensitive, prepared.predicted)
        else:
            value = _CELL_METRICS[name](_Counts(cells))
    except MetricUndefined as undefined:
        return BiasMetricResult(name=name, description=description, error=str(undefined))
    interval = None
    if bootstrap_samples > 0 and name != "FT":
        interval = _bootstrap_interval(name, cells, value, bootstrap_samples, z, rng)
    return BiasMetricResult(
        name=name, description=description, value=value, confidence_interval=interval
    )


def _bootstrap_interval(
    name: str, cells: Cells, value: float, samples: int, z: float, rng: np.random.Generator
) -> tuple[float, float] | None:
    """Normal bootstrap interval: resampling rows with replacement is a multinomial over cells."""
    total = round(float(cells.sum()))
    draws = rng.multinomial(total, cells.ravel() / total, size=samples).astype(np.float64)
    metric = _CELL_METRICS[name]
    values = []
    for draw in draws:
        try:
            values.append(metric(_Counts(draw.reshape(cells.shape))))
        except MetricUndefined:
            continue
    finite = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
    if finite.size < 2 or not math.isfinite(value):
        return None
    spread = z * float(np.std(finite, ddof=1))
    return (value - spread, value + spread)


# --------------------------------------------------------------------------------------------
# Input preparation


@dataclass
class _Prepared:
    """Each usable row's facet value, label and prediction outcomes and group, ready to count."""

    facet: pa.Array
    positive: BoolArray
    predicted: BoolArray | None
    group_codes: npt.NDArray[np.int64]
    group_count: int
    kept_rows: pa.Array | None = None  # rows left after dropping missing values; None: all

    @classmethod
    def from_table(cls, data: pa.Table, config: BiasConfig, *, with_predictions: bool) -> _Prepared:
        columns = [config.label, config.facet]
        if with_predictions:
            assert config.predicted_label is not None
            columns.append(config.predicted_label)
        if config.group_variable is not None:
            columns.append(config.group_variable)
        missing = [c for c in columns if c not in data.column_names]
        if missing:
            raise _invalid(
                f"missing column(s) {', '.join(map(repr, missing))} "
                f"(columns: {', '.join(data.column_names)})"
            )
        arrays = {c: data.column(c).combine_chunks() for c in columns}
        kept = None
        if any(a.null_count for a in arrays.values()):
            kept = pc.is_valid(arrays[columns[0]])
            for array in list(arrays.values())[1:]:
                kept = pc.and_(kept, pc.is_valid(array))
            arrays = {c: a.filter(kept) for c, a in arrays.items()}
        if len(arrays[config.label]) == 0:
            raise _invalid(f"no rows with {' and '.join(map(repr, columns))} all present")

        positive = _outcome(
            arrays[config.label], config.label, config.label_values, config.label_threshold
        )
        predicted = None
        if with_predictions:
            assert config.predicted_label is not None
            scores = arrays[config.predicted_label]
            if config.probability_threshold is not None:
                predicted = _numbers(scores, config.predicted_label) >= config.probability_threshold
            else:
                predicted = _outcome(
                    scores, config.predicted_label, config.label_values, config.label_threshold
                )
        group_codes = np.zeros(len(positive), dtype=np.int64)
        group_count = 1
        if config.group_variable is not None:
            codes, names = _category_codes(arrays[config.group_variable])
            distinct = sorted(set(names), key=_sort_key)
            position = {name: i for i, name in enumerate(distinct)}
            group_codes = np.array([position[name] for name in names], dtype=np.int64)[codes]
            group_count = len(distinct)
        return cls(
            facet=arrays[config.facet],
            positive=positive,
            predicted=predicted,
            group_codes=group_codes,
            group_count=group_count,
            kept_rows=kept,
        )

    def facet_groups(self, config: BiasConfig) -> list[tuple[str, BoolArray]]:
        """(value_or_threshold text, mask of facet d) for each facet group to report."""
        if config.facet_threshold is not None:
            values = _numbers(self.facet, config.facet)
            return [(_number_text(config.facet_threshold), values > config.facet_threshold)]
        codes, names = _category_codes(self.facet)
        if config.facet_values is not None:
            wanted = [class_name_of(v) for v in config.facet_values]
            return [(",".join(wanted), _rows_named(codes, names, set(wanted)))]
        distinct = sorted(set(names), key=_sort_key)
        return [(value, _rows_named(codes, names, {value})) for value in distinct]

    def cells(self, sensitive: BoolArray) -> Cells:
        predicted = self.predicted if self.predicted is not None else np.zeros_like(self.positive)
        index = (
            (sensitive.astype(np.int64) * 2 + self.positive.astype(np.int64)) * 2
            + predicted.astype(np.int64)
        ) * self.group_count + self.group_codes
        counts = np.bincount(index, minlength=8 * self.group_count).astype(np.float64)
        return counts.reshape(2, 2, 2, self.group_count)

    def ft_features(self, data: pa.Table, config: BiasConfig) -> FloatArray | None:
        excluded = {config.label, config.facet, config.predicted_label, config.group_variable}
        if config.ft_features is not None:
            names = list(config.ft_features)
            missing = [n for n in names if n not in data.column_names]
            if missing:
                raise _invalid(f"FT feature column(s) not found: {', '.join(missing)}")
        else:
            names = [
                field.name
                for field in data.schema
                if field.name not in excluded
                and (pa.types.is_integer(field.type) or pa.types.is_floating(field.type))
            ]
        if not names:
            return None
        columns = []
        for name in names:
            array = data.column(name).combine_chunks()
            if self.kept_rows is not None:
                array = array.filter(self.kept_rows)
            if array.null_count:
                raise _invalid(f"FT feature column {name!r} has missing values")
            columns.append(_numbers(array, name))
        return np.column_stack(columns)


def _select_methods(
    methods: Sequence[str] | str, config: BiasConfig, pre: bool, post: bool
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if isinstance(methods, str):
        if methods != "all":
            raise _invalid(f'methods must be "all" or a list of metric names, not {methods!r}')
        pre_methods: tuple[str, ...] = PRE_TRAINING_METRICS if pre else ()
        post_methods: tuple[str, ...] = POST_TRAINING_METRICS if post else ()
        if config.group_variable is None:
            pre_methods = tuple(m for m in pre_methods if m not in GROUP_METRICS)
            post_methods = tuple(m for m in post_methods if m not in GROUP_METRICS)
        return pre_methods, post_methods
    known = set(PRE_TRAINING_METRICS) | set(POST_TRAINING_METRICS)
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise _invalid(
            f"unknown bias metric(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    if config.group_variable is None and GROUP_METRICS & set(methods):
        raise _invalid("CDDL and CDDPL need a group_variable")
    post_requested = [m for m in methods if m in POST_TRAINING_METRICS]
    if post_requested and not post:
        raise _invalid(
            f"post-training metric(s) {', '.join(post_requested)} need a predicted_label"
        )
    return (
        tuple(m for m in PRE_TRAINING_METRICS if m in methods and pre),
        tuple(m for m in POST_TRAINING_METRICS if m in methods and post),
    )


def _outcome(
    array: pa.Array, name: str, values: Sequence[object] | None, threshold: float | None
) -> BoolArray:
    if threshold is not None:
        return _numbers(array, name) > threshold
    assert values is not None
    wanted = pa.array([class_name_of(v) for v in values], pa.string())
    flags: BoolArray = pc.is_in(_categories(array), value_set=wanted).to_numpy(zero_copy_only=False)
    return flags


def _numbers(array: pa.Array, name: str) -> FloatArray:
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    try:
        values: FloatArray = (
            pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise _invalid(f"column {name!r} must hold numbers for a threshold: {error}") from error
    if not np.all(np.isfinite(values)):
        raise _invalid(f"column {name!r} has NaN or infinite values")
    return values


def _category_codes(array: pa.Array) -> tuple[npt.NDArray[np.int64], list[str]]:
    """Per-row codes into a list of category names; names may repeat ("1" and "1.0" -> "1").

    Only the distinct values are converted to names, so a million rows cost one hash pass.
    """
    encoded = array if pa.types.is_dictionary(array.type) else pc.dictionary_encode(array)
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, _categories(encoded.dictionary).to_pylist()


def _rows_named(codes: npt.NDArray[np.int64], names: list[str], wanted: set[str]) -> BoolArray:
    lookup = np.array([name in wanted for name in names], dtype=np.bool_)
    rows: BoolArray = lookup[codes]
    return rows


def _categories(array: pa.Array) -> pa.Array:
    """Values as category strings, numbers spelled as their labels are ("1.0" -> "1")."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_boolean(array.type):
        return pc.cast(pc.cast(array, pa.int8()), pa.string())
    if pa.types.is_floating(array.type):
        values = array.to_numpy(zero_copy_only=False)
        if not np.all(np.isfinite(values)):
            raise _invalid("category columns must not hold NaN or infinite values")
        if np.all(values == np.floor(values)):
            return pc.cast(pc.cast(array, pa.int64()), pa.string())
        return pc.cast(array, pa.string())
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        strings = pc.cast(array, pa.string())
        try:
            numbers = pc.cast(strings, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return strings
        return _categories(numbers)
    return pc.cast(array, pa.string())


def _number_text(value: float | None) -> str:
    assert value is not None
    return class_name_of(float(value)) if float(value).is_integer() else repr(float(value))


def _sort_key(name: str) -> tuple[int, float, str]:
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)
