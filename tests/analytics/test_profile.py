"""Profiles: exact where they promise exactness, within the sketches' bounds elsewhere."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from datasketches import kll_doubles_sketch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlgov.analytics import Profiler, merge, profile
from mlgov.analytics._sketch import (
    WeightedSample,
    decode_sketch,
    kll_from_sorted,
    kll_item_count,
    kll_levels,
    kll_total_capacity,
)
from mlgov.analytics.inputs import ReadOptions
from mlgov.errors import ErrorCode, InvalidRequest
from mlgov.formats.baseline import FeatureStatistics, InferredType, Statistics

K = 200
# KLL's single-sided normalized rank error at 99% confidence; tests allow twice that, which
# makes a spurious failure astronomically unlikely while still catching a broken sketch.
RANK_ERROR = 2 * kll_doubles_sketch(K).normalized_rank_error(False)


def _feature(statistics: Statistics, name: str) -> FeatureStatistics:
    feature = statistics.feature(name)
    assert feature is not None, name
    return feature


def _numbers(feature: FeatureStatistics) -> dict[str, float]:
    stats = feature.numerical_statistics
    assert stats is not None
    return {
        "mean": float(stats.mean),  # type: ignore[arg-type]
        "sum": float(stats.sum),  # type: ignore[arg-type]
        "std_dev": float(stats.std_dev),  # type: ignore[arg-type]
        "min": float(stats.min),  # type: ignore[arg-type]
        "max": float(stats.max),  # type: ignore[arg-type]
    }


def _categories(feature: FeatureStatistics) -> dict[str, float]:
    strings = feature.string_statistics
    assert strings is not None
    assert strings.distribution is not None
    assert strings.distribution.categorical is not None
    return {b.value: float(b.count) for b in strings.distribution.categorical.buckets}


class TestExactStatistics:
    def test_counts_and_moments_match_numpy(self) -> None:
        rng = np.random.default_rng(11)
        values = rng.normal(50, 12, 20_000)
        values[rng.random(values.size) < 0.05] = np.nan
        integers = rng.integers(-100, 100, 20_000).astype(float)
        mask = rng.random(integers.size) < 0.1
        table = pa.table(
            {"f": values, "i": pa.array(np.where(mask, 0, integers).astype(np.int64), mask=mask)}
        )
        statistics = profile(table, options=ReadOptions(batch_size=3000))
        assert statistics.dataset.item_count == 20_000
        for name, data in (("f", values), ("i", np.where(mask, np.nan, integers))):
            feature = _feature(statistics, name)
            present = data[~np.isnan(data)]
            assert feature.common.num_present == present.size
            assert feature.common.num_missing == data.size - present.size
            got = _numbers(feature)
            assert got["sum"] == pytest.approx(present.sum(), rel=1e-12)
            assert got["mean"] == pytest.approx(present.mean(), rel=1e-12)
            assert got["std_dev"] == pytest.approx(present.std(), rel=1e-9)
            assert got["min"] == present.min()
            assert got["max"] == present.max()
        assert _feature(statistics, "f").inferred_type is InferredType.FRACTIONAL
        assert _feature(statistics, "i").inferred_type is InferredType.INTEGRAL


@pytest.fixture(scope="module")
def skewed() -> np.ndarray:
    rng = np.random.default_rng(5)
    return np.concatenate([rng.lognormal(0, 1, 150_000), rng.normal(20, 2, 50_000)])


@pytest.fixture(scope="module")
def skewed_feature(skewed: np.ndarray) -> FeatureStatistics:
    return _feature(profile(pa.table({"x": skewed}), kll_k=K), "x")


class TestQuantileSketch:
    def test_ranks_are_within_the_kll_error_bound(
        self, skewed: np.ndarray, skewed_feature: FeatureStatistics
    ) -> None:
        data, feature = skewed, skewed_feature
        fractions = np.linspace(0.01, 0.99, 99)
        exact = np.quantile(data, fractions)
        assert feature.mlgov is not None
        assert feature.mlgov.kll is not None
        ours = WeightedSample.from_kll(decode_sketch(feature.mlgov.kll))
        assert np.abs(ours.cdf(exact) - fractions).max() <= RANK_ERROR
        # The same levels as SageMaker reads them from sketch.data.
        kll = feature.numerical_statistics.distribution.kll  # type: ignore[union-attr]
        assert kll is not None
        assert kll.sketch is not None
        theirs = WeightedSample.from_sagemaker_sketch(kll.sketch)
        np.testing.assert_array_equal(theirs.values, ours.values)
        np.testing.assert_array_equal(theirs.cumulative, ours.cumulative)

    def test_ten_buckets_like_sagemaker(
        self, skewed: np.ndarray, skewed_feature: FeatureStatistics
    ) -> None:
        data, feature = skewed, skewed_feature
        kll = feature.numerical_statistics.distribution.kll  # type: ignore[union-attr]
        assert kll is not None
        assert len(kll.buckets) == 10
        assert kll.buckets[0].lower_bound == data.min()
        assert kll.buckets[-1].upper_bound == pytest.approx(data.max())
        assert sum(bucket.count for bucket in kll.buckets) == data.size
        edges = np.linspace(data.min(), data.max(), 11)
        exact, _ = np.histogram(data, edges)
        for bucket, count in zip(kll.buckets, exact, strict=True):
            assert abs(bucket.count - count) <= 2 * RANK_ERROR * data.size

    @pytest.mark.parametrize("k", [8, 20, 200, 1000])
    def test_level_capacities_match_the_library(self, k: int) -> None:
        for n in (k + 1, 3 * k, 5_000, 100_003):
            sketch = kll_doubles_sketch(k)
            sketch.update(np.random.default_rng(n).normal(size=n))
            blob = sketch.serialize()
            num_levels = blob[18]
            first_offset = int(np.frombuffer(blob, "<u4", count=1, offset=20)[0])
            assert kll_total_capacity(k, num_levels) == first_offset + sketch.num_retained

    @pytest.mark.parametrize("size", [1, 7, K, K + 1, 2 * K + 3, 65_535, 65_536, 100_001])
    def test_batches_compacted_in_numpy_are_valid_sketches(self, size: int) -> None:
        rng = np.random.default_rng(size)
        values = np.sort(rng.lognormal(0, 1, size))
        sketch = kll_from_sorted(values, K)
        assert sketch.n == size
        assert (sketch.get_min_value(), sketch.get_max_value()) == (values[0], values[-1])
        assert sketch.num_retained <= max(K, 1) + 64
        # It survives the library's own serialization and reads as levels whose weights add up.
        again = kll_doubles_sketch.deserialize(sketch.serialize())
        sample = WeightedSample.from_kll(again.serialize())
        assert sample.total == size
        if size <= K:  # nothing to compact: the sketch holds every value
            np.testing.assert_array_equal(sample.values, values)
            return
        fractions = np.linspace(0.01, 0.99, 99)
        assert np.abs(sample.cdf(np.quantile(values, fractions)) - fractions).max() <= RANK_ERROR

    def test_merging_compacted_batches_stays_within_the_error_bound(self) -> None:
        rng = np.random.default_rng(11)
        data = np.concatenate([rng.exponential(1.0, 300_000), rng.normal(9, 1, 100_000)])
        rng.shuffle(data)
        sketch = kll_doubles_sketch(K)
        for start in range(0, data.size, 9_999):  # odd batch sizes exercise the odd-one-out rule
            sketch.merge(kll_from_sorted(np.sort(data[start : start + 9_999]), K))
        sketch.update(np.sort(rng.normal(size=150)))  # ordinary updates still mix in
        assert sketch.n == data.size + 150
        constant = kll_from_sorted(np.full(1_000, 2.5), K)
        assert constant.get_quantile(0.5) == 2.5 and constant.n == 1_000
        fractions = np.linspace(0.01, 0.99, 99)
        sample = WeightedSample.from_kll(sketch.serialize())
        reference = np.quantile(data, fractions)
        # The 150 extra values shift ranks by at most 150 / n.
        slack = 150 / sketch.n
        assert np.abs(sample.cdf(reference) - fractions).max() <= RANK_ERROR + slack

    def test_the_serialized_sketch_parses(self, skewed_feature: FeatureStatistics) -> None:
        feature = skewed_feature
        assert feature.mlgov is not None
        assert feature.mlgov.kll is not None
        blob = decode_sketch(feature.mlgov.kll)
        assert kll_item_count(blob) == 200_000
        levels = kll_levels(blob)
        assert sum(level.size * 2**height for height, level in enumerate(levels)) == 200_000

    def test_kll_k_is_validated(self) -> None:
        with pytest.raises(InvalidRequest, match="kll_k"):
            Profiler(kll_k=2)


class TestInferredTypes:
    @pytest.mark.parametrize(
        ("array", "expected"),
        [
            (pa.array([1, 2, None]), InferredType.INTEGRAL),
            (pa.array([1.0, 2.0, 3.0]), InferredType.INTEGRAL),
            (pa.array([1.0, 2.5]), InferredType.FRACTIONAL),
            (pa.array(["1", "2", " 3", "+4"]), InferredType.INTEGRAL),
            (pa.array(["1", "2.5", "1e3"]), InferredType.FRACTIONAL),
            (pa.array(["1", "2.5", "x"]), InferredType.STRING),
            (pa.array(["a", "b"]).dictionary_encode(), InferredType.STRING),
            (pa.array(["7", "8"]).dictionary_encode(), InferredType.INTEGRAL),
            (pa.array([True, False]), InferredType.STRING),
            (pa.array([None, None], pa.float64()), InferredType.UNKNOWN),
            (pa.array([None, None]), InferredType.UNKNOWN),
            (pa.array([[1, 2], [3]]), InferredType.UNKNOWN),
            (pa.array([decimal.Decimal("1.50"), decimal.Decimal("2.25")]), InferredType.FRACTIONAL),
            (pa.array([dt.date(2024, 1, 1), dt.date(2024, 1, 2)]), InferredType.STRING),
            (pa.array([b"ok", b"fine"]), InferredType.STRING),
            (pa.array([b"\xff\xfe"]), InferredType.UNKNOWN),
        ],
    )
    def test_deequ_rules(self, array: pa.Array, expected: InferredType) -> None:
        feature = _feature(profile(pa.table({"v": array})), "v")
        assert feature.inferred_type is expected
        assert feature.common.num_present + feature.common.num_missing == len(array)

    def test_type_counts_record_every_value(self) -> None:
        feature = _feature(profile(pa.table({"v": ["1", "2.5", "x", None, "4"]})), "v")
        assert feature.mlgov is not None
        counts = feature.mlgov.type_counts
        assert (counts.integral, counts.fractional, counts.string) == (2, 1, 1)
        assert feature.common.num_missing == 1
        # A String feature still keeps the numbers it saw, for merges that change its type.
        assert feature.mlgov.numeric_count == 3

    def test_booleans_are_categories(self) -> None:
        feature = _feature(profile(pa.table({"b": [True, True, False, None]})), "b")
        assert _categories(feature) == {"true": 2.0, "false": 1.0}


class TestEdgeCases:
    def test_empty_data(self) -> None:
        statistics = profile(
            pa.table({"x": pa.array([], pa.float64()), "s": pa.array([], pa.string())})
        )
        assert statistics.dataset.item_count == 0
        for feature in statistics.features:
            assert feature.inferred_type is InferredType.UNKNOWN
            assert (feature.common.num_present, feature.common.num_missing) == (0, 0)

    def test_all_null_column(self) -> None:
        feature = _feature(profile(pa.table({"x": pa.array([None] * 5, pa.float64())})), "x")
        assert feature.inferred_type is InferredType.UNKNOWN
        assert feature.common.num_missing == 5
        assert feature.string_statistics is not None
        assert feature.string_statistics.distinct_count == 0

    def test_one_distinct_value(self) -> None:
        feature = _feature(profile(pa.table({"x": [3.5] * 100})), "x")
        stats = _numbers(feature)
        assert stats == {"mean": 3.5, "sum": 350.0, "std_dev": 0.0, "min": 3.5, "max": 3.5}
        kll = feature.numerical_statistics.distribution.kll  # type: ignore[union-attr]
        assert kll is not None
        assert [bucket.count for bucket in kll.buckets] == [0.0] * 9 + [100.0]

    def test_nan_is_missing_and_infinity_is_present_but_kept_out_of_moments(self) -> None:
        feature = _feature(profile(pa.table({"x": [1.0, np.nan, np.inf, -np.inf, 3.0, None]})), "x")
        assert feature.common.num_present == 4
        assert feature.common.num_missing == 2
        assert _numbers(feature) == {
            "mean": 2.0,
            "sum": 4.0,
            "std_dev": 1.0,
            "min": 1.0,
            "max": 3.0,
        }
        assert feature.mlgov is not None
        assert feature.mlgov.infinite_count == 2
        assert feature.inferred_type is InferredType.FRACTIONAL

    def test_only_infinities(self) -> None:
        feature = _feature(profile(pa.table({"x": [np.inf, -np.inf]})), "x")
        assert feature.numerical_statistics is not None
        assert feature.numerical_statistics.mean is None
        assert feature.common.num_present == 2

    def test_unicode_categories_survive_the_json_round_trip(self) -> None:
        words = ["Zürich", "東京", "naïve", "😀", "", 'a,b\n"c"']
        statistics = profile(pa.table({"w": words * 3}))
        again = Statistics.parse_json(statistics.dump_json())
        assert _categories(_feature(again, "w")) == dict.fromkeys(words, 3.0)

    def test_columns_that_come_and_go_count_as_missing(self) -> None:
        profiler = Profiler()
        profiler.update(pa.record_batch({"a": [1, 2]}))
        profiler.update(pa.record_batch({"a": [3], "b": ["x"]}))
        profiler.update(pa.record_batch({"b": ["y", "z"]}))
        statistics = profiler.statistics()
        assert statistics.dataset.item_count == 5
        a, b = _feature(statistics, "a"), _feature(statistics, "b")
        assert (a.common.num_present, a.common.num_missing) == (3, 2)
        assert (b.common.num_present, b.common.num_missing) == (3, 2)

    def test_duplicate_column_names_are_rejected(self) -> None:
        batch = pa.RecordBatch.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"])
        with pytest.raises(InvalidRequest, match="duplicate column names: a") as raised:
            Profiler().update(batch)
        assert raised.value.code is ErrorCode.INVALID_DATA

    def test_chunked_table_columns(self) -> None:
        table = pa.Table.from_batches(
            [pa.record_batch({"x": [1.0, 2.0]}), pa.record_batch({"x": [3.0]})]
        )
        profiler = Profiler()
        profiler.update(table)
        assert _numbers(_feature(profiler.statistics(), "x"))["sum"] == 6.0

    def test_discrete_numbers_keep_exact_counts_until_there_are_too_many(self) -> None:
        small = _feature(profile(pa.table({"k": [1, 2, 2, 3, 3, 3]})), "k")
        assert small.mlgov is not None
        assert small.mlgov.numeric_values == [(1.0, 1), (2.0, 2), (3.0, 3)]
        wide = _feature(profile(pa.table({"k": np.arange(500)})), "k")
        assert wide.mlgov is not None
        assert wide.mlgov.numeric_values is None

    def test_high_cardinality_strings_use_the_hll_estimate(self) -> None:
        words = [f"user-{i}" for i in range(5000)]
        feature = _feature(profile(pa.table({"id": words + words[:1000]})), "id")
        strings = feature.string_statistics
        assert strings is not None
        assert strings.distinct_count == pytest.approx(5000, rel=0.05)
        # Too many values to count exactly: the buckets are the heavy hitters only.
        assert sum(_categories(feature).values()) < 6000


# --- merge laws --------------------------------------------------------------------------------

_cells = st.one_of(
    st.none(),
    st.integers(-5, 5),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.sampled_from(["a", "b", "ü", "x y"]),
)


@st.composite
def _tables(draw: st.DrawFn) -> pa.Table:
    rows = draw(st.integers(0, 40))
    ints = draw(
        st.lists(st.one_of(st.none(), st.integers(-1000, 1000)), min_size=rows, max_size=rows)
    )
    floats = draw(
        st.lists(
            st.one_of(
                st.none(),
                st.floats(-1e6, 1e6, allow_nan=False),
                st.sampled_from([math.nan, math.inf, -math.inf]),
            ),
            min_size=rows,
            max_size=rows,
        )
    )
    words = draw(
        st.lists(
            st.one_of(st.none(), st.sampled_from(["a", "b", "ü", "😀"])),
            min_size=rows,
            max_size=rows,
        )
    )
    mixed = draw(st.lists(_cells, min_size=rows, max_size=rows))
    return pa.table(
        {
            "i": pa.array(ints, pa.int64()),
            "f": pa.array(floats, pa.float64()),
            "w": pa.array(words, pa.string()),
            "m": pa.array([None if v is None else str(v) for v in mixed], pa.string()),
            # Edge cases the merge laws must hold for too: all null, and one distinct value.
            "null": pa.array([None] * rows, pa.float64()),
            "one": pa.array(["só"] * rows, pa.string()),
        }
    )


def _exact_view(statistics: Statistics) -> dict[str, Any]:
    """What merge must reproduce exactly."""
    view: dict[str, Any] = {"rows": statistics.dataset.item_count}
    for feature in statistics.features:
        sketches = feature.mlgov
        assert sketches is not None
        entry: dict[str, Any] = {
            "type": feature.inferred_type,
            "present": feature.common.num_present,
            "missing": feature.common.num_missing,
            "type_counts": sketches.type_counts.model_dump(),
            "numeric_count": sketches.numeric_count,
            "min": sketches.numeric_min,
            "max": sketches.numeric_max,
            "values": sketches.numeric_values,
            "infinite": sketches.infinite_count,
        }
        if feature.string_statistics is not None and feature.string_statistics.distribution:
            entry["categories"] = _categories(feature)
        view[feature.name] = entry
    return view


def _close_view(statistics: Statistics) -> dict[str, tuple[float, float]]:
    view = {}
    for feature in statistics.features:
        assert feature.mlgov is not None
        view[feature.name] = (feature.mlgov.numeric_sum, feature.mlgov.numeric_m2)
    return view


def _assert_close_views(left: Statistics, right: Statistics) -> None:
    for name, (total, m2) in _close_view(left).items():
        other_total, other_m2 = _close_view(right)[name]
        assert total == pytest.approx(other_total, rel=1e-9, abs=1e-6)
        assert m2 == pytest.approx(other_m2, rel=1e-9, abs=1e-3)


class TestMerge:
    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_tables(), _tables())
    def test_merge_equals_profile_of_the_concatenation(
        self, first: pa.Table, second: pa.Table
    ) -> None:
        whole = profile(pa.concat_tables([first, second]))
        merged = merge(profile(first), profile(second))
        assert _exact_view(merged) == _exact_view(whole)
        _assert_close_views(merged, whole)

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_tables(), _tables(), _tables())
    def test_merge_is_commutative_and_associative(
        self, first: pa.Table, second: pa.Table, third: pa.Table
    ) -> None:
        a, b, c = profile(first), profile(second), profile(third)
        assert _exact_view(merge(a, b))["rows"] == _exact_view(merge(b, a))["rows"]
        left = merge(merge(a, b), c)
        right = merge(a, merge(b, c))
        assert _exact_view(left) == _exact_view(right)
        swapped = _exact_view(merge(b, a))
        for name, entry in _exact_view(merge(a, b)).items():
            if name != "rows":
                assert entry == swapped[name]
        _assert_close_views(left, right)

    def test_quantiles_of_a_merge_stay_within_the_error_bound(self) -> None:
        rng = np.random.default_rng(9)
        parts = [rng.exponential(scale, 40_000) for scale in (1.0, 2.0, 5.0)]
        merged = merge(*(profile(pa.table({"x": part})) for part in parts))
        feature = _feature(merged, "x")
        assert feature.mlgov is not None
        assert feature.mlgov.kll is not None
        sample = WeightedSample.from_kll(decode_sketch(feature.mlgov.kll))
        data = np.concatenate(parts)
        fractions = np.linspace(0.01, 0.99, 50)
        assert np.abs(sample.cdf(np.quantile(data, fractions)) - fractions).max() <= RANK_ERROR
        assert _numbers(feature)["std_dev"] == pytest.approx(data.std(), rel=1e-9)

    def test_distinct_counts_merge_through_hll(self) -> None:
        first = profile(pa.table({"id": [f"u{i}" for i in range(3000)]}))
        second = profile(pa.table({"id": [f"u{i}" for i in range(2000, 6000)]}))
        strings = _feature(merge(first, second), "id").string_statistics
        assert strings is not None
        assert strings.distinct_count == pytest.approx(6000, rel=0.05)

    def test_a_column_absent_from_one_part_is_missing_there(self) -> None:
        merged = merge(profile(pa.table({"a": [1, 2]})), profile(pa.table({"b": ["x"]})))
        assert merged.dataset.item_count == 3
        a, b = _feature(merged, "a"), _feature(merged, "b")
        assert (a.common.num_present, a.common.num_missing) == (2, 1)
        assert (b.common.num_present, b.common.num_missing) == (1, 2)

    def test_a_type_change_across_parts_follows_deequs_rule(self) -> None:
        merged = merge(profile(pa.table({"v": [1, 2]})), profile(pa.table({"v": ["x"]})))
        assert _feature(merged, "v").inferred_type is InferredType.STRING

    def test_statistics_without_sketches_cannot_be_merged(self) -> None:
        statistics = profile(pa.table({"a": [1.0]}))
        statistics.features[0].mlgov = None
        with pytest.raises(InvalidRequest, match="no mlgov sketches") as raised:
            merge(statistics, statistics)
        assert raised.value.code is ErrorCode.INVALID_DATA

    def test_merging_one_profile_returns_it(self) -> None:
        statistics = profile(pa.table({"a": [1.0, 2.0], "s": ["x", "y"]}))
        assert _exact_view(merge(statistics)) == _exact_view(statistics)


class TestStreamingMemory:
    """Memory follows the batch size, not the number of rows (the 10M-row bench checks RSS)."""

    BATCH_ROWS = 4_096

    def _stream(self, batches: int, arrow_bytes: list[int]) -> Any:
        rng = np.random.default_rng(5)
        words = np.array([f"w{i}" for i in range(30)])
        for _ in range(batches):
            arrow_bytes.append(pa.total_allocated_bytes())
            yield pa.record_batch(
                {
                    # pc.add copies into Arrow's pool, so the batch is counted there.
                    "x": pa.compute.add(pa.array(rng.normal(size=self.BATCH_ROWS)), 0.0),
                    "n": pa.array(rng.integers(0, 1000, self.BATCH_ROWS)),
                    "c": pa.array(words[rng.integers(0, 30, self.BATCH_ROWS)]),
                }
            )

    def _peak_python_bytes(self, batches: int) -> tuple[int, list[int], Statistics]:
        import tracemalloc

        arrow_bytes: list[int] = []
        tracemalloc.start()
        try:
            statistics = profile(self._stream(batches, arrow_bytes))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return peak, arrow_bytes, statistics

    def test_profiling_ten_times_the_rows_needs_no_more_memory(self) -> None:
        small_peak, _, small = self._peak_python_bytes(5)
        large_peak, arrow_bytes, large = self._peak_python_bytes(40)
        assert large.dataset.item_count == 40 * self.BATCH_ROWS
        batch_bytes = self.BATCH_ROWS * (8 + 8 + 4 + 3)
        # Python-side (numpy) working memory: per batch, not per dataset.
        assert large_peak < small_peak + 4 * batch_bytes
        # Arrow memory held while streaming: the batch in hand and the read-ahead queue only.
        settled = arrow_bytes[4]
        assert max(arrow_bytes[4:]) - settled < 6 * batch_bytes
        # The sketches themselves stay small: they grow with the log of the rows, not the rows.
        assert len(large.model_dump_json()) < 2 * len(small.model_dump_json())
