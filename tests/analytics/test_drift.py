"""Drift methods against scipy and the formulas they are documented to follow."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from datasketches import kll_doubles_sketch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlgov.analytics import DriftMethod, DriftSpec, choose_method, compare, compute, profile
from mlgov.analytics._sketch import WeightedSample
from mlgov.analytics.drift import (
    FeatureDistribution,
    deequ_chi_squared,
    distribution_of,
    ks_p_value,
    linf_categorical,
    linf_numerical,
    proportions_z_test,
    psi,
    robust_linf,
    wasserstein_distance,
)
from mlgov.errors import InvalidRequest
from mlgov.formats.baseline import FeatureStatistics, Statistics

DATA = Path(__file__).parent / "data"
RANK_ERROR = 2 * kll_doubles_sketch(200).normalized_rank_error(False)


def _distribution(values: np.ndarray | list[str], name: str = "x") -> FeatureDistribution:
    statistics = profile(pa.table({name: values}))
    feature = statistics.feature(name)
    assert feature is not None
    distribution = distribution_of(feature)
    assert distribution is not None
    return distribution


def _categorical(counts: dict[str, float]) -> FeatureDistribution:
    return FeatureDistribution(
        name="c", kind="categorical", count=sum(counts.values()), categories=counts
    )


samples = st.lists(
    st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False), min_size=1, max_size=60
)
# scipy's asymptotic KS divides by zero when both samples hold one value.
ks_samples = st.lists(
    st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False), min_size=2, max_size=60
)


class TestSageMakerDistances:
    @settings(max_examples=40, deadline=None)
    @given(ks_samples, ks_samples)
    def test_linf_simple_is_the_ks_statistic_on_exact_sketches(
        self, first: list[float], second: list[float]
    ) -> None:
        # Below k items a KLL sketch keeps every value, so the distance must be exact.
        result = compute(
            DriftMethod.LINF_SIMPLE, _distribution(np.array(first)), _distribution(np.array(second))
        )
        oracle = stats.ks_2samp(first, second, method="asymp")
        assert result.value == pytest.approx(oracle.statistic, abs=1e-12)

    def test_robust_subtracts_deequs_critical_value(self) -> None:
        assert robust_linf(0.3, 100, 400) == pytest.approx(0.3 - 1.8 * math.sqrt(500 / 40_000))
        assert robust_linf(0.01, 100, 100) == 0.0
        assert robust_linf(0.5, 0, 10) == 0.0

    def test_linf_on_large_sketches_stays_within_their_error(self) -> None:
        rng = np.random.default_rng(1)
        first, second = rng.normal(0, 1, 300_000), rng.normal(0.15, 1.1, 200_000)
        baseline, current = _distribution(first), _distribution(second)
        result = compute(DriftMethod.LINF_SIMPLE, baseline, current)
        exact = stats.ks_2samp(first, second, method="asymp").statistic
        assert abs(result.value - exact) <= 2 * RANK_ERROR
        robust = compute(DriftMethod.LINF_ROBUST, baseline, current)
        assert robust.value == pytest.approx(robust_linf(result.value, 300_000, 200_000))

    def test_categorical_linf_is_the_largest_frequency_gap(self) -> None:
        gap, n, m = linf_categorical({"a": 50, "b": 50}, {"a": 20, "b": 60, "c": 20})
        assert (gap, n, m) == (pytest.approx(0.3), 100, 100)

    def test_sagemaker_sketch_reads_with_level_weights(self) -> None:
        statistics = Statistics.read(DATA / "sagemaker_statistics.json")
        feature = statistics.feature("day_mins")
        assert feature is not None
        distribution = distribution_of(feature)
        assert distribution is not None
        assert distribution.count == 20
        assert distribution.sample is not None
        assert distribution.sample.weights.tolist().count(2.0) == 6


class TestOtherMethodsAgainstScipy:
    @settings(max_examples=30, deadline=None)
    @given(ks_samples, ks_samples)
    def test_ks_p_value_matches_scipy_asymptotic(
        self, first: list[float], second: list[float]
    ) -> None:
        result = compute(
            DriftMethod.KS, _distribution(np.array(first)), _distribution(np.array(second))
        )
        oracle = stats.ks_2samp(first, second, method="asymp")
        assert result.value == pytest.approx(oracle.statistic, abs=1e-12)
        assert result.p_value == pytest.approx(oracle.pvalue, rel=1e-9, abs=1e-12)
        assert result.drifted == (oracle.pvalue < 0.05)

    def test_ks_p_value_edge_cases(self) -> None:
        assert ks_p_value(0.5, 0, 10) == 1.0
        assert ks_p_value(0.0, 100, 100) == 1.0

    @settings(max_examples=30, deadline=None)
    @given(samples, samples)
    def test_wasserstein_matches_scipy(self, first: list[float], second: list[float]) -> None:
        ours = wasserstein_distance(
            WeightedSample.from_values(np.array(first)),
            WeightedSample.from_values(np.array(second)),
        )
        assert ours == pytest.approx(stats.wasserstein_distance(first, second), rel=1e-9, abs=1e-9)

    def test_normed_wasserstein_divides_by_the_baseline_spread(self) -> None:
        rng = np.random.default_rng(2)
        first, second = rng.normal(0, 3, 150), rng.normal(1, 3, 120)
        result = compute(DriftMethod.WASSERSTEIN, _distribution(first), _distribution(second))
        expected = stats.wasserstein_distance(first, second) / np.std(first)
        assert result.value == pytest.approx(expected, rel=1e-9)
        assert result.threshold == 0.1
        assert result.drifted

    def test_chi_squared_matches_scipy_when_no_regrouping_is_needed(self) -> None:
        baseline = {"a": 400.0, "b": 300.0, "c": 300.0}
        current = {"a": 90.0, "b": 60.0, "c": 50.0}
        result = compute(DriftMethod.CHI_SQUARED, _categorical(baseline), _categorical(current))
        expected_counts = np.array([400, 300, 300]) / 1000 * 200
        oracle = stats.chisquare([90, 60, 50], expected_counts)
        assert result.value == pytest.approx(oracle.statistic)
        assert result.p_value == pytest.approx(oracle.pvalue)

    def test_chi_squared_regroups_rare_categories_like_deequ(self) -> None:
        # Expected counts 2, 3 and 95 (of 100): the two rare ones fall under Yates' limit and
        # merge, then the merged 5 still fails Cochran's 10 for a 2x2 table, leaving one group.
        statistic, p_value = deequ_chi_squared(
            np.array([1.0, 4.0, 95.0]), np.array([2.0, 3.0, 95.0])
        )
        assert math.isnan(statistic)
        assert math.isnan(p_value)
        result = compute(
            DriftMethod.CHI_SQUARED,
            _categorical({"r1": 2, "r2": 3, "big": 95}),
            _categorical({"r1": 1, "r2": 4, "big": 95}),
        )
        assert result.p_value == 1.0
        assert not result.drifted
        assert result.note is not None

    def test_chi_squared_regrouping_keeps_a_testable_table(self) -> None:
        expected = np.array([1.0, 2.0, 300.0, 300.0, 397.0])
        observed = np.array([5.0, 5.0, 30.0, 30.0, 30.0])
        statistic, p_value = deequ_chi_squared(observed, expected)
        scaled = expected / expected.sum() * observed.sum()
        # Scaled to the current total the rare expectations are 0.1 and 0.2: five groups allow one
        # below 5, so 0.1 joins 0.2; four groups allow none, so 0.3 joins the first 30.
        merged_expected = [scaled[2] + scaled[0] + scaled[1], scaled[3], scaled[4]]
        merged_observed = [30.0 + 5 + 5, 30.0, 30.0]
        oracle = stats.chisquare(merged_observed, merged_expected)
        assert statistic == pytest.approx(oracle.statistic)
        assert p_value == pytest.approx(oracle.pvalue)

    def test_jensen_shannon_matches_scipy(self) -> None:
        baseline = {"a": 10.0, "b": 30.0, "c": 60.0}
        current = {"a": 30.0, "b": 30.0, "d": 40.0}
        result = compute(DriftMethod.JENSEN_SHANNON, _categorical(baseline), _categorical(current))
        oracle = jensenshannon([10, 30, 60, 0], [30, 30, 0, 40])
        assert result.value == pytest.approx(oracle)

    def test_psi_uses_the_evidently_floor_for_empty_bins(self) -> None:
        expected = np.array([50.0, 50.0, 0.0])
        observed = np.array([30.0, 50.0, 20.0])
        p = np.array([0.5, 0.5, 1e-4])
        q = np.array([0.3, 0.5, 0.2])
        assert psi(expected, observed) == pytest.approx(float(np.sum((p - q) * np.log(p / q))))
        assert psi(expected, expected) == 0.0

    def test_psi_bins_continuous_features_at_baseline_deciles(self) -> None:
        rng = np.random.default_rng(4)
        first, second = rng.uniform(0, 1, 100), rng.uniform(0, 1, 100) ** 2
        result = compute(DriftMethod.PSI, _distribution(first), _distribution(second))
        edges = np.quantile(first, np.arange(1, 10) / 10, method="inverted_cdf")
        base = np.diff(
            np.concatenate(([0], np.searchsorted(np.sort(first), edges, "right"), [100]))
        )
        cur = np.diff(
            np.concatenate(([0], np.searchsorted(np.sort(second), edges, "right"), [100]))
        )
        p, q = base / 100, cur / 100
        p, q = np.where(p == 0, 1e-4, p), np.where(q == 0, 1e-4, q)
        assert result.value == pytest.approx(float(np.sum((p - q) * np.log(p / q))))

    def test_z_test_matches_the_two_proportion_formula(self) -> None:
        z, p_value = proportions_z_test(np.array([30.0, 70.0]), np.array([45.0, 55.0]))
        p1, p2, pooled = 0.3, 0.45, 0.375
        expected_z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / 100 + 1 / 100))
        assert z == pytest.approx(expected_z)
        assert p_value == pytest.approx(2 * (1 - stats.norm.cdf(abs(expected_z))))
        assert proportions_z_test(np.array([10.0, 0.0]), np.array([5.0, 0.0])) == (0.0, 1.0)
        with pytest.raises(InvalidRequest, match="at most two categories"):
            proportions_z_test(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))

    def test_numerical_only_methods_refuse_categories(self) -> None:
        with pytest.raises(InvalidRequest, match="numerical"):
            compute(DriftMethod.KS, _categorical({"a": 1}), _categorical({"a": 1}))
        with pytest.raises(InvalidRequest, match="same kind"):
            compute(DriftMethod.LINF_SIMPLE, _distribution(np.array([1.0])), _categorical({"a": 1}))


class TestChoiceTable:
    @pytest.mark.parametrize(
        ("values", "rows", "expected"),
        [
            (np.arange(10.0), 500, DriftMethod.KS),
            (np.arange(10.0), 5000, DriftMethod.WASSERSTEIN),
            (np.arange(4.0), 500, DriftMethod.CHI_SQUARED),
            (np.arange(4.0), 5000, DriftMethod.JENSEN_SHANNON),
            (np.arange(2.0), 500, DriftMethod.Z_TEST),
            (np.arange(2.0), 5000, DriftMethod.JENSEN_SHANNON),
            (np.array(["a", "b", "c"]), 500, DriftMethod.CHI_SQUARED),
            (np.array(["a", "b", "c"]), 5000, DriftMethod.JENSEN_SHANNON),
            (np.array(["a", "b"]), 1000, DriftMethod.Z_TEST),
            (np.array(["a", "b"]), 1001, DriftMethod.JENSEN_SHANNON),
        ],
    )
    def test_evidently_defaults(self, values: np.ndarray, rows: int, expected: DriftMethod) -> None:
        column = np.resize(values, rows)
        distribution = _distribution(column)
        assert choose_method(distribution, distribution) is expected

    def test_continuous_features_without_exact_values_count_as_many(self) -> None:
        rng = np.random.default_rng(0)
        distribution = _distribution(rng.normal(size=2000))
        assert distribution.categories is None
        assert choose_method(distribution, distribution) is DriftMethod.WASSERSTEIN

    def test_unique_values_are_counted_over_both_datasets(self) -> None:
        baseline = _distribution(np.resize(np.arange(2.0), 100))
        current = _distribution(np.resize(np.arange(4.0), 100))
        assert choose_method(baseline, current) is DriftMethod.CHI_SQUARED


class TestCompare:
    @pytest.fixture
    def profiles(self) -> tuple[Statistics, Statistics]:
        rng = np.random.default_rng(8)
        n = 5000
        baseline = pa.table(
            {
                "stable": rng.normal(size=n),
                "shifted": rng.normal(size=n),
                "color": rng.choice(["red", "green", "blue"], n),
                "only_in_baseline": rng.normal(size=n),
                "empty": pa.array([None] * n, pa.float64()),
            }
        )
        current = pa.table(
            {
                "stable": rng.normal(size=n),
                "shifted": rng.normal(0.8, 1, n),
                "color": rng.choice(["red", "green", "blue"], n, p=[0.6, 0.2, 0.2]),
                "empty": pa.array([None] * n, pa.float64()),
            }
        )
        return profile(baseline), profile(current)

    def test_every_result_names_its_method_and_threshold(
        self, profiles: tuple[Statistics, Statistics]
    ) -> None:
        results = {result.feature_name: result for result in compare(*profiles)}
        assert set(results) == {"stable", "shifted", "color"}
        assert results["shifted"].method is DriftMethod.WASSERSTEIN
        assert results["shifted"].chosen_by == "auto"
        assert results["shifted"].drifted
        assert not results["stable"].drifted
        assert results["color"].method is DriftMethod.JENSEN_SHANNON
        assert results["color"].drifted
        for result in results.values():
            assert result.threshold == 0.1
            assert result.method.value in result.describe()
            assert "threshold: 0.1" in result.describe()

    def test_global_method_and_per_feature_overrides(
        self, profiles: tuple[Statistics, Statistics]
    ) -> None:
        results = compare(
            *profiles,
            method=DriftMethod.PSI,
            threshold=0.2,
            features={"color": DriftSpec(DriftMethod.CHI_SQUARED, 0.01)},
        )
        by_name = {result.feature_name: result for result in results}
        assert by_name["stable"].method is DriftMethod.PSI
        assert by_name["stable"].threshold == 0.2
        assert by_name["color"].method is DriftMethod.CHI_SQUARED
        assert by_name["color"].p_value is not None
        assert by_name["color"].drifted
        assert "p-value" in by_name["color"].describe()

    def test_a_numbers_only_method_leaves_categories_to_the_table(
        self, profiles: tuple[Statistics, Statistics]
    ) -> None:
        by_name = {r.feature_name: r for r in compare(*profiles, method=DriftMethod.KS)}
        assert by_name["stable"].method is DriftMethod.KS
        assert by_name["color"].method is DriftMethod.JENSEN_SHANNON
        assert by_name["color"].chosen_by == "auto"
        with pytest.raises(InvalidRequest, match="numerical"):
            compare(*profiles, features={"color": DriftSpec(DriftMethod.WASSERSTEIN)})

    def test_distribution_of_unknown_features_is_none(self) -> None:
        feature = FeatureStatistics.model_validate(
            {
                "name": "u",
                "inferred_type": "Unknown",
                "string_statistics": {"common": {"num_present": 0, "num_missing": 3}},
            }
        )
        assert distribution_of(feature) is None

    def test_linf_numerical_of_empty_samples_is_zero(self) -> None:
        empty = WeightedSample(np.zeros(0), np.zeros(0))
        assert linf_numerical(empty, WeightedSample.from_values(np.array([1.0])))[0] == 0.0
