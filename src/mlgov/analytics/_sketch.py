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
