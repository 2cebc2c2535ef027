"""Reading quantile sketches as weighted samples.

A KLL sketch retains items in compactor levels; an item on level ``i`` stands for ``2**i``
observations. Both sketch families we meet store exactly that: Apache DataSketches
``kll_doubles_sketch`` (our profiles, binary) and Deequ's ``QuantileNonSample`` (SageMaker's
``statistics.json``, as ``sketch.data``). Reading either into a :class:`WeightedSample` lets the
drift methods compare any pair of them the way Deequ does: through rank maps built from the
retained items.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from datasketches import kll_doubles_sketch

from mlgov.errors import ErrorCode, InvalidRequest
from mlgov.formats.baseline import KllBucket, KllSketch

FloatArray = npt.NDArray[np.float64]

# Apache DataSketches KLL serialization (kll_sketch_impl.hpp): an 8-byte preamble, then for a
# sketch with two or more items n (u64), min_k (u16), num_levels (u8), a pad byte, the level
# offsets (u32 x num_levels), min and max, and the retained items level by level.
_KLL_FAMILY = 15
_FLAG_EMPTY = 1
_FLAG_SINGLE_ITEM = 4
_FULL_HEADER_BYTES = 20
_ITEM_BYTES = 8


def _corrupt(detail: str) -> InvalidRequest:
    return InvalidRequest(f"corrupt KLL sketch: {detail}", code=ErrorCode.INVALID_DATA)


def kll_levels(blob: bytes) -> list[FloatArray]:
    """The retained items of a serialized ``kll_doubles_sketch``, one array per level."""
    if len(blob) < 8 or blob[2] != _KLL_FAMILY:
        raise _corrupt("not a KLL sketch")
    flags = blob[3]
    if flags & _FLAG_EMPTY:
        return []
    if flags & _FLAG_SINGLE_ITEM:
        if len(blob) < 8 + _ITEM_BYTES:
            raise _corrupt("truncated single-item sketch")
        return [np.frombuffer(blob, dtype="<f8", count=1, offset=8).astype(np.float64)]
    if len(blob) < _FULL_HEADER_BYTES:
        raise _corrupt("truncated header")
    num_levels = blob[18]
    items_start = _FULL_HEADER_BYTES + 4 * num_levels + 2 * _ITEM_BYTES
    if len(blob) < items_start or (len(blob) - items_start) % _ITEM_BYTES:
        raise _corrupt("truncated items")
    offsets = np.frombuffer(blob, dtype="<u4", count=num_levels, offset=_FULL_HEADER_BYTES)
    items = np.frombuffer(blob, dtype="<f8", offset=items_start).astype(np.float64)
    bounds = np.append(offsets.astype(np.int64) - int(offsets[0]), items.size)
    if np.any(np.diff(bounds) < 0) or bounds[-1] != items.size:
        raise _corrupt("level offsets out of order")
    return [items[bounds[level] : bounds[level + 1]] for level in range(num_levels)]


def kll_item_count(blob: bytes) -> int:
    """``n``, the number of observations a serialized sketch has seen."""
    if len(blob) < 8 or blob[3] & _FLAG_EMPTY:
        return 0
    if blob[3] & _FLAG_SINGLE_ITEM:
        return 1
    return int(struct.unpack_from("<Q", blob, 8)[0])


# KLL level capacities, as kll_helper.hpp computes them: level h of a sketch with L levels holds
# max(m, round(k * (2/3) ** (L - h - 1))) items, in integer arithmetic.
_KLL_MIN_WIDTH = 8  # "m", the smallest level capacity; the library default
_POWERS_OF_THREE: list[int] = [3**i for i in range(31)]
_FULL_PREAMBLE_INTS = 5
_SERIAL_VERSION_FULL = 1
_FLAG_LEVEL_ZERO_SORTED = 2
_compaction_bits = np.random.default_rng()


def _capacity_at_depth(k: int, depth: int) -> int:
    if depth > 30:
        half = depth // 2
        return _capacity_at_depth(_capacity_at_depth(k, half), depth - half)
    return (((k << 1) << depth) // _POWERS_OF_THREE[depth] + 1) >> 1


def kll_total_capacity(k: int, num_levels: int) -> int:
    """The item buffer size of a ``kll_doubles_sketch`` with ``num_levels`` levels."""
    return sum(
        max(_KLL_MIN_WIDTH, _capacity_at_depth(k, num_levels - height - 1))
        for height in range(num_levels)
    )


def kll_from_sorted(values: FloatArray, k: int) -> kll_doubles_sketch:
    """A KLL sketch of sorted, finite ``values``, built by compacting them in numpy.

    This is what the sketch itself does to a full sorted level, done for a whole batch at once:
    while more than ``k`` items remain, an odd one out stays on the current level and every
    other item (from a random offset) moves up a level with twice the weight. Total weight is
    conserved exactly (``n`` is the item count), each compaction at level h moves any rank by at
    most 2**h, and the result is written in the DataSketches serial format and deserialized, so
    merging it into a column's sketch costs a few hundred items instead of one update per value.
    """
    size = int(values.size)
    levels: list[FloatArray] = []
    current = values
    bits = _compaction_bits.integers(0, 2, size=64)
    while current.size > k:
        if current.size % 2:
            levels.append(current[:1])
            current = current[1:]
        else:
            levels.append(current[:0])
        current = current[int(bits[len(levels) - 1]) :: 2]
    levels.append(current)
    num_levels = len(levels)
    capacity = kll_total_capacity(k, num_levels)
    retained = sum(level.size for level in levels)
    # Lower levels hold at most one item and the top at most k: this always fits.
    assert retained <= capacity, (retained, capacity)
    offsets = (capacity - retained) + np.concatenate(
        ([0], np.cumsum([level.size for level in levels[:-1]]))
    )
    blob = b"".join(
        [
            struct.pack(
                "<BBBBHBBQHBB",
                _FULL_PREAMBLE_INTS,
                _SERIAL_VERSION_FULL,
                _KLL_FAMILY,
                _FLAG_LEVEL_ZERO_SORTED,
                k,
                _KLL_MIN_WIDTH,
                0,
                size,
                k,
                num_levels,
                0,
            ),
            offsets.astype("<u4").tobytes(),
            struct.pack("<dd", float(values[0]), float(values[-1])),
            np.concatenate(levels).astype("<f8", copy=False).tobytes(),
        ]
    )
    return kll_doubles_sketch.deserialize(blob)


def encode_sketch(blob: bytes) -> str:
    return base64.b64encode(blob).decode("ascii")


def decode_sketch(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise _corrupt("not base64") from exc


def load_kll(text: str) -> kll_doubles_sketch:
    blob = decode_sketch(text)
    try:
        return kll_doubles_sketch.deserialize(blob)
    except (RuntimeError, ValueError) as exc:
        raise _corrupt(str(exc)) from exc


@dataclass(frozen=True)
class WeightedSample:
    """Sorted values with cumulative weights: the step CDF a quantile sketch describes."""

    values: FloatArray
    cumulative: FloatArray

    @property
    def total(self) -> float:
        return float(self.cumulative[-1]) if self.cumulative.size else 0.0

    @property
    def weights(self) -> FloatArray:
        return np.diff(self.cumulative, prepend=0.0)

    @property
    def is_empty(self) -> bool:
        return self.values.size == 0

    @classmethod
    def from_levels(cls, levels: list[FloatArray] | list[list[float]]) -> WeightedSample:
        arrays = [np.asarray(level, dtype=np.float64) for level in levels]
        if not arrays or not any(level.size for level in arrays):
            return cls(np.zeros(0), np.zeros(0))
        values = np.concatenate(arrays)
        weights = np.concatenate(
            [np.full(level.size, 2.0**height) for height, level in enumerate(arrays)]
        )
        finite = np.isfinite(values)
        values, weights = values[finite], weights[finite]
        order = np.argsort(values, kind="stable")
        return cls(values[order], np.cumsum(weights[order]))

    @classmethod
    def from_kll(cls, blob: bytes) -> WeightedSample:
        return cls.from_levels(kll_levels(blob))

    @classmethod
    def from_sagemaker_sketch(cls, sketch: KllSketch) -> WeightedSample:
        return cls.from_levels([[float(item) for item in level] for level in sketch.data])

    @classmethod
    def from_buckets(cls, buckets: list[KllBucket]) -> WeightedSample:
        """A coarse stand-in when a baseline carries buckets but no sketch: mass at bucket tops."""
        uppers = np.array([float(bucket.upper_bound) for bucket in buckets], dtype=np.float64)
        counts = np.array([float(bucket.count) for bucket in buckets], dtype=np.float64)
        keep = counts > 0
        order = np.argsort(uppers[keep], kind="stable")
        return cls(uppers[keep][order], np.cumsum(counts[keep][order]))

    @classmethod
    def from_values(cls, values: FloatArray, weights: FloatArray | None = None) -> WeightedSample:
        values = np.asarray(values, dtype=np.float64)
        weights = np.ones(values.size) if weights is None else np.asarray(weights, np.float64)
        order = np.argsort(values, kind="stable")
        return cls(values[order], np.cumsum(weights[order]))

    def rank(self, points: FloatArray, *, inclusive: bool = True) -> FloatArray:
        """Total weight of values ``<= points`` (``< points`` when not inclusive)."""
        if self.is_empty:
            return np.zeros(np.shape(points))
        index = np.searchsorted(self.values, points, side="right" if inclusive else "left")
        padded = np.concatenate(([0.0], self.cumulative))
        result: FloatArray = padded[index]
        return result

    def cdf(self, points: FloatArray) -> FloatArray:
        """Normalized inclusive rank, as Deequ's rank maps define it."""
        if self.is_empty:
            return np.zeros(np.shape(points))
        return self.rank(points) / self.total

    def quantiles(self, fractions: FloatArray) -> FloatArray:
        if self.is_empty:
            return np.full(np.shape(fractions), np.nan)
        targets = np.asarray(fractions, dtype=np.float64) * self.total
        index = np.searchsorted(self.cumulative, targets, side="left")
        result: FloatArray = self.values[np.clip(index, 0, self.values.size - 1)]
        return result
