"""Profiles: per-feature statistics in the ``statistics.json`` shape, built from mergeable sketches.

One pass over record batches keeps, per column:

- exact counts: rows, missing values (null or NaN), and how many present values look Integral,
  Fractional or String (Deequ's data-type histogram, which decides ``inferred_type`` the same way
  SageMaker does: any string makes the feature a String, else any fraction a Fractional);
- exact moments of the finite numbers (count, sum, Chan's running M2, min, max);
- a KLL quantile sketch (``kll_doubles_sketch``) for the distribution and the 10 buckets;
- for text, a frequent-items sketch (exact while fewer than 768 distinct values) and an HLL sketch
  for the distinct count;
- exact counts per distinct number while a numeric column has at most 64 distinct values, which
  tells a discrete feature from a continuous one for the drift method choice.

All of it is kept, serialized, under each feature's ``mlgov`` key, so :func:`merge` of two profiles
equals the profile of the concatenated data exactly for counts, sums, min and max, and within the
sketches' error bounds for quantiles and distinct counts.

Infinities count as present Fractional values but stay out of the moments and the sketch (JSON
has no infinity, and one would swamp every mean); ``mlgov.infinite_count`` records them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasketches import (
    frequent_items_error_type,
    frequent_strings_sketch,
    hll_sketch,
    hll_union,
    kll_doubles_sketch,
)

from mlgov.analytics._sketch import (
    FloatArray,
    WeightedSample,
    decode_sketch,
    encode_sketch,
    kll_from_sorted,
    kll_levels,
    load_kll,
)
from mlgov.analytics.inputs import DataSource, ReadOptions, iter_batches, prefetched
from mlgov.errors import ErrorCode, InvalidRequest
from mlgov.formats.baseline import (
    CategoricalBucket,
    CategoricalBuckets,
    CategoricalDistribution,
    CommonStatistics,
    DatasetStatistics,
    FeatureSketches,
    FeatureStatistics,
    InferredType,
    KllBucket,
    KllDistribution,
    KllParameters,
    KllSketch,
    NumericalDistribution,
    NumericalStatistics,
    Statistics,
    StringStatistics,
    TypeCounts,
)

DEFAULT_KLL_K = 200
# Apache DataSketches KLL compacts with ratio 2/3 (Deequ's sketch uses 0.64).
KLL_COMPACTION_RATIO = 2 / 3
BUCKET_COUNT = 10
FREQUENT_ITEMS_LG_MAX_MAP_SIZE = 10  # exact counts for up to 0.75 * 2**10 = 768 distinct values
HLL_LG_K = 12  # about 1.6% relative standard error
NUMERIC_VALUES_CAP = 64
_DISTINCT_PROBE = 1024
_CATEGORICAL_PROBE_LIMIT = 256

_INTEGRAL_PATTERN = r"^[-+]? ?\d+$"
_FRACTIONAL_PATTERN = r"^[-+]? ?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$"


class _ColumnProfile:
    """The running state of one column."""

    def __init__(self, name: str, *, kll_k: int, missing: int = 0) -> None:
        self.name = name
        self.kll_k = kll_k
        self.missing = missing
        self.integral = 0
        self.fractional = 0
        self.string = 0
        self.unknown = 0
        self.numeric_count = 0
        self.numeric_sum = 0.0
        self.numeric_mean = 0.0
        self.numeric_m2 = 0.0
        self.numeric_min = math.inf
        self.numeric_max = -math.inf
        self.infinite_count = 0
        self.kll: kll_doubles_sketch | None = None
        self.numeric_values: dict[float, int] | None = {}
        self.frequent: frequent_strings_sketch | None = None
        self.hll: hll_sketch | None = None

    # --- updates --------------------------------------------------------------------------------

    @property
    def present(self) -> int:
        return self.integral + self.fractional + self.string + self.unknown

    def add_missing(self, rows: int) -> None:
        self.missing += rows

    def update(self, array: pa.Array) -> None:
        if isinstance(array, pa.ChunkedArray):
            for chunk in array.chunks:
                self.update(chunk)
            return
        kind = array.type
        if pa.types.is_dictionary(kind):
            self._update_dictionary(array)
        elif pa.types.is_null(kind):
            self.missing += len(array)
        elif pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            self._update_numeric_array(array)
        elif pa.types.is_boolean(kind):
            self._update_boolean(array)
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            self._update_text(array)
        elif (
            pa.types.is_temporal(kind)
            or pa.types.is_binary(kind)
            or pa.types.is_large_binary(kind)
            or pa.types.is_string_view(kind)
        ):
            text = _as_text(array)
            if text is None:
                self.missing += array.null_count
                self.unknown += len(array) - array.null_count
            else:
                self._update_text(text)
        else:
            # Nested values (lists, structs, maps) have no SageMaker type: Unknown.
            self.missing += array.null_count
            self.unknown += len(array) - array.null_count

    def _update_numeric_array(self, array: pa.Array) -> None:
        integral_type = pa.types.is_integer(array.type)
        if pa.types.is_decimal(array.type):
            integral_type = array.type.scale == 0
            array = array.cast(pa.float64())
        raw = array.to_numpy(zero_copy_only=False)
        values = np.asarray(raw, dtype=np.float64)
        # One sort serves everything: NumPy orders -inf first, then the finite values, +inf and
        # NaN last, so the finite numbers are one slice and no separate isfinite pass is needed.
        ordered = np.sort(values)
        size = ordered.size
        if size == 0:
            return
        if math.isfinite(ordered[0]) and math.isfinite(ordered[-1]):
            numbers = ordered
            nan_count = 0
        else:
            low = int(np.searchsorted(ordered, -np.inf, side="right"))
            high = int(np.searchsorted(ordered, np.inf, side="left"))
            nan_start = int(np.searchsorted(ordered, np.inf, side="right"))
            nan_count = size - nan_start
            self.infinite_count += low + (nan_start - high)
            numbers = ordered[low:high]
        present = size - nan_count
        self.missing += nan_count
        if integral_type:
            self.integral += present
        else:
            whole = int(np.count_nonzero(numbers == np.trunc(numbers)))
            self.integral += whole
            self.fractional += present - whole
        self._add_numbers(numbers, head=values[:_DISTINCT_PROBE], presorted=True)

    def _add_numbers(
        self, numbers: FloatArray, *, head: FloatArray | None = None, presorted: bool = False
    ) -> None:
        count = numbers.size
        if count == 0:
            return
        # One (SIMD) sort per batch serves the sketch (which compacts sorted runs), the min and
        # max, and the exact value counts; it also makes a writable copy of zero-copy Arrow data.
        ordered = numbers if presorted else np.sort(numbers.astype(np.float64, copy=False))
        batch_sum = float(ordered.sum())
        batch_mean = batch_sum / count
        deviations = ordered - batch_mean
        np.multiply(deviations, deviations, out=deviations)
        batch_m2 = float(deviations.sum())
        self._combine_moments(
            count, batch_sum, batch_mean, batch_m2, float(ordered[0]), float(ordered[-1])
        )
        if self.kll is None:
            self.kll = kll_doubles_sketch(self.kll_k)
        if count > self.kll_k:
            # A batch is compacted in numpy and merged: far cheaper than one update per value.
            self.kll.merge(kll_from_sorted(ordered, self.kll_k))
        else:
            self.kll.update(ordered)
        if self.numeric_values is not None:
            probe = numbers[:_DISTINCT_PROBE] if head is None else head[np.isfinite(head)]
            self._count_numeric_values(ordered, probe)

    def _combine_moments(
        self, count: int, total: float, mean: float, m2: float, low: float, high: float
    ) -> None:
        # Chan et al.'s pairwise update: exact merge of means and squared deviations.
        combined = self.numeric_count + count
        delta = mean - self.numeric_mean
        self.numeric_m2 += m2 + delta * delta * self.numeric_count * count / combined
        self.numeric_mean += delta * count / combined
        self.numeric_count = combined
        self.numeric_sum += total
        self.numeric_min = min(self.numeric_min, low)
        self.numeric_max = max(self.numeric_max, high)

    def _count_numeric_values(self, ordered: FloatArray, probe: FloatArray) -> None:
        assert self.numeric_values is not None
        # A cheap probe first: a continuous column shows many distinct values in its head.
        if np.unique(probe).size > NUMERIC_VALUES_CAP:
            self.numeric_values = None
            return
        starts = np.flatnonzero(np.diff(ordered, prepend=np.nan) != 0)
        distinct = ordered[starts]
        counts = np.diff(np.append(starts, ordered.size))
        known = self.numeric_values
        if distinct.size + len(known) > NUMERIC_VALUES_CAP and (
            len(known.keys() | set(distinct.tolist())) > NUMERIC_VALUES_CAP
        ):
            self.numeric_values = None
            return
        for value, count in zip(distinct.tolist(), counts.tolist(), strict=True):
            known[value] = known.get(value, 0) + count

    def _update_boolean(self, array: pa.Array) -> None:
        present = len(array) - array.null_count
        self.missing += array.null_count
        self.string += present
        true_count = int(pc.sum(array).as_py() or 0)
        self._add_strings(["true", "false"], [true_count, present - true_count])

    def _update_dictionary(self, array: pa.DictionaryArray) -> None:
        dictionary = array.dictionary
        if not (pa.types.is_string(dictionary.type) or pa.types.is_large_string(dictionary.type)):
            self.update(array.cast(dictionary.type))
            return
        self.missing += array.null_count
        indices = array.indices.drop_null().to_numpy(zero_copy_only=False)
        if indices.size == 0:
            return
        counts = np.bincount(indices, minlength=len(dictionary))
        used = np.flatnonzero(counts)
        words = dictionary.take(pa.array(used))
        weights = counts[used]
        integral = _matches(words, _INTEGRAL_PATTERN)
        numeric = _matches(words, _FRACTIONAL_PATTERN) | integral
        self.integral += int(weights[integral].sum())
        self.fractional += int(weights[numeric & ~integral].sum())
        self.string += int(weights[~numeric].sum())
        if numeric.any():
            numeric_words = dictionary.take(pa.array(used[numeric]))
            word_values = _to_float(numeric_words)
            lookup = np.full(len(dictionary), np.nan)
            lookup[used[numeric]] = word_values
            per_row = lookup[indices]
            self._add_numbers(per_row[np.isfinite(per_row)])
            self.infinite_count += int(np.count_nonzero(np.isinf(per_row)))
        self._add_strings(words.to_pylist(), weights.tolist())

    def _update_text(self, array: pa.Array) -> None:
        values = array.drop_null() if array.null_count else array
        head = values.slice(0, _DISTINCT_PROBE)
        if pc.count_distinct(head).as_py() <= _CATEGORICAL_PROBE_LIMIT:
            # Few distinct values (categories, codes): classify and count each value once.
            self.missing += array.null_count
            self._update_dictionary(pc.dictionary_encode(values))
            return
        self.missing += array.null_count
        numbers = _parse_numbers(values, head)
        if numbers is not None and not np.isnan(numbers).any():
            # Every value is a number written as text (CSV columns, JSON payloads).
            integral = int(pc.sum(pc.match_substring_regex(values, _INTEGRAL_PATTERN)).as_py())
            self.integral += integral
            self.fractional += len(values) - integral
            finite = np.isfinite(numbers)
            self.infinite_count += int(np.count_nonzero(~finite))
            self._add_numbers(numbers[finite] if not finite.all() else numbers)
            if self.numeric_values is not None:
                self._add_value_counts(values)
            return
        integral_mask = pc.match_substring_regex(values, _INTEGRAL_PATTERN)
        numeric_mask = pc.or_(integral_mask, pc.match_substring_regex(values, _FRACTIONAL_PATTERN))
        integral = int(pc.sum(integral_mask).as_py())
        numeric = int(pc.sum(numeric_mask).as_py())
        self.integral += integral
        self.fractional += numeric - integral
        self.string += len(values) - numeric
        if numeric:
            self._add_numbers(_to_float(values.filter(numeric_mask)))
        self._add_value_counts(values)

    def _add_value_counts(self, values: pa.Array) -> None:
        counted = pc.value_counts(values)
        self._add_strings(counted.field("values").to_pylist(), counted.field("counts").to_pylist())

    def _add_strings(self, words: Sequence[str], counts: Sequence[int]) -> None:
        if self.frequent is None:
            self.frequent = frequent_strings_sketch(FREQUENT_ITEMS_LG_MAX_MAP_SIZE)
            self.hll = hll_sketch(HLL_LG_K)
        assert self.hll is not None
        frequent, hll = self.frequent, self.hll
        for word, count in zip(words, counts, strict=True):
            if count:
                frequent.update(word, count)
                hll.update(word)

    # --- merge ----------------------------------------------------------------------------------

    def merge(self, other: _ColumnProfile) -> None:
        self.missing += other.missing
        self.integral += other.integral
        self.fractional += other.fractional
        self.string += other.string
        self.unknown += other.unknown
        self.infinite_count += other.infinite_count
        if other.numeric_count:
            self._combine_moments(
                other.numeric_count,
                other.numeric_sum,
                other.numeric_mean,
                other.numeric_m2,
                other.numeric_min,
                other.numeric_max,
            )
        if other.kll is not None:
            if self.kll is None:
                self.kll = kll_doubles_sketch(other.kll.k)
            self.kll.merge(other.kll)
        if self.numeric_values is not None and other.numeric_values is not None:
            merged = dict(self.numeric_values)
            for value, count in other.numeric_values.items():
                merged[value] = merged.get(value, 0) + count
            self.numeric_values = merged if len(merged) <= NUMERIC_VALUES_CAP else None
        else:
            self.numeric_values = None
        if other.frequent is not None:
            if self.frequent is None:
                self.frequent = frequent_strings_sketch(FREQUENT_ITEMS_LG_MAX_MAP_SIZE)
            self.frequent.merge(other.frequent)
            union = hll_union(HLL_LG_K)
            if self.hll is not None:
                union.update(self.hll)
            if other.hll is not None:
                union.update(other.hll)
            self.hll = union.get_result()

    # --- results --------------------------------------------------------------------------------

    def inferred_type(self) -> InferredType:
        if self.present == 0 or self.unknown:
            return InferredType.UNKNOWN
        if self.string:
            return InferredType.STRING
        if self.fractional:
            return InferredType.FRACTIONAL
        return InferredType.INTEGRAL

    def sketches(self) -> FeatureSketches:
        has_numbers = self.numeric_count > 0
        return FeatureSketches(
            type_counts=TypeCounts(
                integral=self.integral,
                fractional=self.fractional,
                string=self.string,
                unknown=self.unknown,
            ),
            numeric_count=self.numeric_count,
            numeric_sum=self.numeric_sum,
            numeric_m2=self.numeric_m2,
            numeric_min=self.numeric_min if has_numbers else None,
            numeric_max=self.numeric_max if has_numbers else None,
            infinite_count=self.infinite_count,
            kll=encode_sketch(self.kll.serialize()) if self.kll is not None else None,
            numeric_values=(
                sorted(self.numeric_values.items()) if self.numeric_values is not None else None
            ),
            frequent_items=(
                encode_sketch(self.frequent.serialize()) if self.frequent is not None else None
            ),
            hll=encode_sketch(self.hll.serialize_compact()) if self.hll is not None else None,
        )

    @classmethod
    def from_feature(cls, feature: FeatureStatistics, *, kll_k: int) -> _ColumnProfile:
        state = feature.mlgov
        if state is None:
            raise InvalidRequest(
                f"feature {feature.name!r} has no mlgov sketches (a statistics.json made "
                "elsewhere); only profiles made by mlgov can be merged",
                code=ErrorCode.INVALID_DATA,
            )
        column = cls(feature.name, kll_k=kll_k, missing=feature.common.num_missing)
        counts = state.type_counts
        column.integral, column.fractional = counts.integral, counts.fractional
        column.string, column.unknown = counts.string, counts.unknown
        column.infinite_count = state.infinite_count
        column.numeric_count = state.numeric_count
        column.numeric_sum = state.numeric_sum
        column.numeric_m2 = state.numeric_m2
        if state.numeric_count:
            column.numeric_mean = state.numeric_sum / state.numeric_count
            column.numeric_min = _require(state.numeric_min, feature.name, "numeric_min")
            column.numeric_max = _require(state.numeric_max, feature.name, "numeric_max")
        if state.kll is not None:
            column.kll = load_kll(state.kll)
        column.numeric_values = (
            {float(value): int(count) for value, count in state.numeric_values}
            if state.numeric_values is not None
            else None
        )
        if state.frequent_items is not None:
            column.frequent = frequent_strings_sketch.deserialize(
                decode_sketch(state.frequent_items)
            )
        if state.hll is not None:
            column.hll = hll_sketch.deserialize(decode_sketch(state.hll))
        return column

    def feature(self) -> FeatureStatistics:
        inferred = self.inferred_type()
        common = CommonStatistics(num_present=self.present, num_missing=self.missing)
        feature = FeatureStatistics(name=self.name, inferred_type=inferred, mlgov=self.sketches())
        if inferred in (InferredType.INTEGRAL, InferredType.FRACTIONAL):
            feature.numerical_statistics = self._numerical_statistics(common)
        else:
            feature.string_statistics = self._string_statistics(common)
        return feature

    def _numerical_statistics(self, common: CommonStatistics) -> NumericalStatistics:
        if self.numeric_count == 0:
            return NumericalStatistics(common=common)
        statistics = NumericalStatistics(
            common=common,
            mean=self.numeric_sum / self.numeric_count,
            sum=self.numeric_sum,
            std_dev=math.sqrt(max(self.numeric_m2, 0.0) / self.numeric_count),
            min=self.numeric_min,
            max=self.numeric_max,
        )
        if self.kll is not None:
            levels = kll_levels(self.kll.serialize())
            sample = WeightedSample.from_levels(levels)
            statistics.distribution = NumericalDistribution(
                kll=KllDistribution(
                    buckets=kll_buckets(sample, self.numeric_min, self.numeric_max),
                    sketch=KllSketch(
                        parameters=KllParameters(c=KLL_COMPACTION_RATIO, k=float(self.kll.k)),
                        data=[level.tolist() for level in levels],
                    ),
                )
            )
        return statistics

    def _string_statistics(self, common: CommonStatistics) -> StringStatistics:
        if self.frequent is None:
            return StringStatistics(common=common, distinct_count=0.0)
        counts, exact = frequent_counts(self.frequent)
        distinct = float(len(counts)) if exact else float(round(self._hll_estimate()))
        buckets = [
            CategoricalBucket(value=value, count=count)
            for value, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        ]
        return StringStatistics(
            common=common,
            distinct_count=distinct,
            distribution=CategoricalDistribution(categorical=CategoricalBuckets(buckets=buckets)),
        )

    def _hll_estimate(self) -> float:
        return float(self.hll.get_estimate()) if self.hll is not None else 0.0


def _require(value: float | None, feature: str, field: str) -> float:
    if value is None:
        raise InvalidRequest(
            f"feature {feature!r}: mlgov.{field} is missing", code=ErrorCode.INVALID_DATA
        )
    return value


def _as_text(array: pa.Array) -> pa.Array | None:
    """Temporal values as ISO text, binary as UTF-8 text; ``None`` when bytes are not text."""
    try:
        return array.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _matches(words: pa.Array, pattern: str) -> np.ndarray:
    return np.asarray(
        pc.match_substring_regex(words, pattern).to_numpy(zero_copy_only=False), dtype=bool
    )


def _parse_numbers(values: pa.Array, head: pa.Array) -> FloatArray | None:
    """The values as numbers if every one parses, else ``None``; text fails fast on the head."""
    try:
        head.cast(pa.float64())
        parsed = values.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Arrow's failing cast is slow on long arrays (tens of ms), hence the probe first.
        return None
    return np.asarray(parsed.to_numpy(zero_copy_only=False), np.float64)


def _to_float(words: pa.Array) -> FloatArray:
    # Deequ's patterns allow "- 5"; Arrow's parser wants "-5".
    cleaned = pc.replace_substring(pc.utf8_trim_whitespace(words), " ", "")
    return np.asarray(cleaned.cast(pa.float64()).to_numpy(zero_copy_only=False), np.float64)


def frequent_counts(sketch: frequent_strings_sketch) -> tuple[dict[str, float], bool]:
    """Counts per tracked value, and whether they are exact and complete."""
    items = sketch.get_frequent_items(frequent_items_error_type.NO_FALSE_NEGATIVES, 0)
    counts = {item: float(estimate) for item, estimate, _lower, _upper in items}
    exact = all(lower == upper for _item, _estimate, lower, upper in items) and math.isclose(
        sum(counts.values()), float(sketch.total_weight)
    )
    return counts, exact


def kll_buckets(sample: WeightedSample, low: float, high: float) -> list[KllBucket]:
    """SageMaker's 10 equal-width buckets between min and max, counted from the sketch's ranks.

    Deequ counts bucket ``i`` as ``rank_exclusive(upper) - rank_exclusive(lower)``, the last one
    ``rank_inclusive(max) - rank_exclusive(lower)``, so the counts add up to the item count.
    """
    edges = low + (high - low) * np.arange(BUCKET_COUNT + 1) / BUCKET_COUNT
    exclusive = sample.rank(edges, inclusive=False)
    counts = np.diff(exclusive)
    counts[-1] = sample.rank(np.array([high]))[0] - exclusive[-2]
    return [
        KllBucket(lower_bound=float(edges[i]), upper_bound=float(edges[i + 1]), count=float(c))
        for i, c in enumerate(np.round(counts))
    ]


class Profiler:
    """Build a profile batch by batch; :meth:`statistics` can be called at any point."""

    def __init__(self, *, kll_k: int = DEFAULT_KLL_K) -> None:
        if kll_k < 8 or kll_k > 65535:
            raise InvalidRequest(
                f"kll_k must be between 8 and 65535, got {kll_k}", code=ErrorCode.INVALID_DATA
            )
        self.kll_k = kll_k
        self.rows = 0
        self._columns: dict[str, _ColumnProfile] = {}

    def update(self, batch: pa.RecordBatch | pa.Table) -> None:
        names = batch.schema.names
        if len(set(names)) != len(names):
            duplicated = sorted({name for name in names if names.count(name) > 1})
            raise InvalidRequest(
                f"duplicate column names: {', '.join(duplicated)}", code=ErrorCode.INVALID_DATA
            )
        rows = batch.num_rows
        for name, column in zip(names, batch.columns, strict=True):
            state = self._columns.get(name)
            if state is None:
                # A column that appears late was missing from every earlier row.
                state = _ColumnProfile(name, kll_k=self.kll_k, missing=self.rows)
                self._columns[name] = state
            state.update(column)
        seen = set(names)
        for name, state in self._columns.items():
            if name not in seen:
                state.add_missing(rows)
        self.rows += rows

    def update_all(self, batches: Iterable[pa.RecordBatch]) -> Profiler:
        for batch in batches:
            self.update(batch)
        return self

    def statistics(self) -> Statistics:
        return Statistics(
            version=0.0,
            dataset=DatasetStatistics(item_count=self.rows),
            features=[column.feature() for column in self._columns.values()],
        )


def profile(
    data: DataSource, *, options: ReadOptions | None = None, kll_k: int = DEFAULT_KLL_K
) -> Statistics:
    """Profile any supported data source into ``statistics.json`` statistics."""
    batches = prefetched(iter_batches(data, options))
    return Profiler(kll_k=kll_k).update_all(batches).statistics()


def merge(first: Statistics, *others: Statistics) -> Statistics:
    """Combine profiles of disjoint parts of a dataset into the profile of the whole.

    Features missing from one part count as missing values for that part's rows. Only profiles
    made by mlgov carry the sketches this needs.
    """
    profiles = (first, *others)
    kll_k = DEFAULT_KLL_K
    columns: dict[str, _ColumnProfile] = {}
    rows = 0
    for statistics in profiles:
        part_rows = statistics.dataset.item_count
        present = set()
        for feature in statistics.features:
            present.add(feature.name)
            incoming = _ColumnProfile.from_feature(feature, kll_k=kll_k)
            existing = columns.get(feature.name)
            if existing is None:
                incoming.missing += rows
                columns[feature.name] = incoming
            else:
                existing.merge(incoming)
        for name, column in columns.items():
            if name not in present:
                column.add_missing(part_rows)
        rows += part_rows
    return Statistics(
        version=first.version,
        dataset=DatasetStatistics(item_count=rows),
        features=[column.feature() for column in columns.values()],
    )
