"""A PutMetricData batch as columns: what ingest works on, decoded without a model per datum.

The Pydantic models in ``schemas.py`` stay the authority on what a valid request is.
:func:`decode` takes the parsed JSON document and accepts only what it can prove those models
accept, with the same meaning; for anything else it answers None and the caller validates with
the models, so malformed requests keep their exact 422 errors. :func:`from_model` builds the same
columns from an already validated model (in-process callers, and the fallback).

Datums that are well formed but break an ingest rule (exactly one value form, counts matching
values, the value range, duplicate dimension names, storage resolution) are marked ``suspect``;
ingest then re-runs its per-datum checks on them, in order, to name the first offender with the
usual message. The timestamp window depends on the clock and is checked at ingest.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain, repeat
from operator import itemgetter
from typing import Any

import numpy as np

from mlgov.errors import ErrorCode, InvalidRequest
from mlgov.server.metrics import schemas

# Values/Counts are expanded into the sketch; past this many observations in one datum (or with
# fractional counts) the bucket keeps exact scalar statistics but gives up its percentiles.
MAX_SKETCH_EXPANSION = 100_000

SeriesKey = tuple[str, tuple[tuple[str, str], ...], str]  # metric name, sorted dimensions, unit


@dataclass
class Batch:
    """One batch, one row per datum; ``series`` holds each distinct metric once."""

    namespace: str
    series: list[SeriesKey]
    series_of: np.ndarray  # int64: index into ``series``
    timestamps: np.ndarray  # float64 epoch seconds; NaN means "when received"
    count: np.ndarray  # float64 SampleCount, Sum, Minimum and Maximum of each datum
    total: np.ndarray
    low: np.ndarray
    high: np.ndarray
    sketchable: np.ndarray  # bool: the datum's raw values are known (percentiles survive it)
    samples: np.ndarray  # float64 raw values of the sketchable datums
    sample_owner: np.ndarray  # int64 datum index of each sample
    suspect: np.ndarray  # bool: re-check this datum with the per-datum rules
    datum: Callable[[int], schemas.MetricDatum]  # the validated model of one datum, for errors

    @property
    def size(self) -> int:
        return len(self.series_of)


# --- per-datum statistics (shared by both builders, and the source of their error messages) ----


def bad_datum(index: int, message: str) -> InvalidRequest:
    return InvalidRequest(
        f"metric_data[{index}]: {message}",
        code=ErrorCode.INVALID_METRIC_DATA,
        details={"index": index},
    )


def _check_value(index: int, value: float, what: str) -> None:
    if abs(value) > schemas.LARGEST_VALUE:
        raise bad_datum(index, f"{what} {value} is outside -2^360..2^360")


Stats = tuple[float, float, float, float, np.ndarray | None]


def datum_stats(
    index: int,
    value: float | None,
    values: Sequence[float] | None,
    counts: Sequence[float] | None,
    statistic_values: tuple[float, float, float, float] | None,
) -> Stats:
    """(count, sum, min, max, raw values for the sketch or None); raises naming the datum.

    A single value is its own sample. ``statistic_values`` is (sample_count, sum, min, max).
    """
    forms = [
        name
        for name, given in (
            ("value", value),
            ("values", values),
            ("statistic_values", statistic_values),
        )
        if given is not None
    ]
    if len(forms) != 1:
        raise bad_datum(
            index,
            "give exactly one of value, values (with counts) or statistic_values"
            + (f"; got {', '.join(forms)}" if forms else ""),
        )
    if value is not None:
        _check_value(index, value, "value")
        return 1.0, value, value, value, np.array([value])
    if values is not None:
        if not values:
            raise bad_datum(index, "values is empty")
        array = np.asarray(values, dtype=np.float64)
        weights = np.ones_like(array) if counts is None else np.asarray(counts, dtype=np.float64)
        if weights.size != array.size:
            raise bad_datum(index, f"counts has {weights.size} entries, values has {array.size}")
        for one in values:
            _check_value(index, one, "value")
        whole = np.all(weights == np.round(weights)) and weights.sum() <= MAX_SKETCH_EXPANSION
        samples = np.repeat(array, weights.astype(np.int64)) if whole else None
        return (
            float(weights.sum()),
            float(np.dot(array, weights)),
            float(array.min()),
            float(array.max()),
            samples,
        )
    assert statistic_values is not None
    count, total, low, high = statistic_values
    for name, number in (("sum", total), ("minimum", low), ("maximum", high)):
        _check_value(index, number, f"statistic_values.{name}")
    if low > high:
        raise bad_datum(index, "statistic_values.minimum is greater than statistic_values.maximum")
    # Only a set that stands for identical raw values keeps percentiles (CloudWatch's rule).
    samples = None
    identical = low == high and math.isclose(total, low * count, rel_tol=1e-9, abs_tol=1e-9)
    if identical and count == round(count) and count <= MAX_SKETCH_EXPANSION:
        samples = np.full(int(count), low)
    return count, total, low, high, samples


def model_stats(index: int, datum: schemas.MetricDatum) -> Stats:
    stats = datum.statistic_values
    return datum_stats(
        index,
        datum.value,
        datum.values,
        datum.counts,
        None if stats is None else (stats.sample_count, stats.sum, stats.minimum, stats.maximum),
    )


def check_structure(index: int, datum: schemas.MetricDatum) -> Stats:
    """The clock-free per-datum rules, in the order ingest has always applied them."""
    if datum.storage_resolution not in (1, 60):
        raise bad_datum(index, "storage_resolution must be 1 or 60")
    names = [d.name for d in datum.dimensions]
    if len(set(names)) != len(names):
        raise bad_datum(index, "a dimension name appears twice")
    return model_stats(index, datum)


# --- building the columns --------------------------------------------------------------------


class _Columns:
    """Accumulates rows; ``finish`` turns them into a Batch."""

    def __init__(self, size: int) -> None:
        self.count = np.ones(size)
        self.total = np.zeros(size)
        self.low = np.zeros(size)
        self.high = np.zeros(size)
        self.sketchable = np.ones(size, dtype=bool)
        self.suspect = np.zeros(size, dtype=bool)
        self.singles: list[float] = []  # value-form datums: their value, and where they are
        self.single_at: list[int] = []
        self.others: list[tuple[int, Stats]] = []

    def other(self, index: int, stats: Stats) -> None:
        count, total, low, high, samples = stats
        self.count[index], self.total[index] = count, total
        self.low[index], self.high[index] = low, high
        if samples is None:
            self.sketchable[index] = False
        self.others.append((index, stats))

    def finish(
        self,
        namespace: str,
        series: list[SeriesKey],
        series_of: np.ndarray,
        timestamps: np.ndarray,
        datum: Callable[[int], schemas.MetricDatum],
    ) -> Batch:
        singles = np.array(self.singles, dtype=np.float64)
        at = np.array(self.single_at, dtype=np.int64)
        self.total[at] = singles
        self.low[at] = singles
        self.high[at] = singles
        if self.others:
            parts, owners = [singles], [at]
            for index, (*_, samples) in self.others:
                if samples is not None and samples.size:
                    parts.append(samples)
                    owners.append(np.full(samples.size, index, dtype=np.int64))
            samples_all, owner = np.concatenate(parts), np.concatenate(owners)
        else:
            samples_all, owner = singles, at
        return Batch(
            namespace=namespace,
            series=series,
            series_of=series_of,
            timestamps=timestamps,
            count=self.count,
            total=self.total,
            low=self.low,
            high=self.high,
            sketchable=self.sketchable,
            samples=samples_all,
            sample_owner=owner,
            suspect=self.suspect,
            datum=datum,
        )


def from_model(data: schemas.PutMetricData) -> Batch:
    """Columns of a validated model (the per-datum rules run here, one datum at a time)."""
    size = len(data.metric_data)
    cols = _Columns(size)
    index_of: dict[SeriesKey, int] = {}
    series_of = np.empty(size, dtype=np.int64)
    timestamps = np.full(size, np.nan)
    for index, datum in enumerate(data.metric_data):
        if datum.timestamp is not None:
            timestamps[index] = datum.timestamp.timestamp()
        dims = tuple(sorted((d.name, d.value) for d in datum.dimensions))
        key = (datum.metric_name, dims, datum.unit.value)
        series_of[index] = index_of.setdefault(key, len(index_of))
        try:
            stats = check_structure(index, datum)
        except InvalidRequest:
            cols.suspect[index] = True
            cols.sketchable[index] = False
            continue
        if datum.value is not None:
            cols.singles.append(datum.value)
            cols.single_at.append(index)
        else:
            cols.other(index, stats)
    return cols.finish(
        data.namespace, list(index_of), series_of, timestamps, lambda i: data.metric_data[i]
    )


# --- decoding the JSON document directly ------------------------------------------------------

_DATUM_KEYS = frozenset(schemas.MetricDatum.model_fields)
_STATISTIC_KEYS = frozenset(schemas.StatisticSet.model_fields)
_UNITS = frozenset(unit.value for unit in schemas.Unit)
# The schema's patterns, anchored with fullmatch (Python's ``$`` would allow a final newline).
_NAMESPACE = re.compile(r"[0-9A-Za-z.\-_/#: ]*[0-9A-Za-z.\-_/#:][0-9A-Za-z.\-_/#: ]*")
_DIMENSION_NAME = re.compile(r"[^:\x00-\x1f][^\x00-\x1f]*")
_STAMP = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)
_STAMPS = re.compile(rf"(?:{_STAMP}\n)*{_STAMP}")
_NUMBER = (float, int)  # not bool: type() is compared exactly
_NUMBER_TYPES = frozenset(_NUMBER)
_NONE_TYPE = type(None)
_NO_DIMENSIONS: list[Any] = []  # the default of an absent ``dimensions``; never mutated
_METRIC_NAME, _NAME, _VALUE = itemgetter("metric_name"), itemgetter("name"), itemgetter("value")
# The fields the column-wise decoder handles; a datum with any other goes through the loop.
_SIMPLE_KEYS = frozenset(
    {"metric_name", "dimensions", "timestamp", "value", "unit", "storage_resolution"}
)
assert _SIMPLE_KEYS <= _DATUM_KEYS


class _Unsure(Exception):
    """The document may be invalid, or valid in a way only the models interpret."""


def _numbers(items: Any, *, positive: bool = False) -> list[float]:
    if type(items) is not list or len(items) > schemas.MAX_VALUES:
        raise _Unsure
    for item in items:
        if type(item) not in _NUMBER or not math.isfinite(item) or (positive and item <= 0):
            raise _Unsure
    return items


def _finite(item: Any) -> float:
    if type(item) not in _NUMBER or not math.isfinite(item):
        raise _Unsure
    return float(item)


def _statistic_set(item: Any) -> tuple[float, float, float, float]:
    if type(item) is not dict or item.keys() != _STATISTIC_KEYS:
        raise _Unsure
    count = _finite(item["sample_count"])
    if count <= 0:
        raise _Unsure
    return count, _finite(item["sum"]), _finite(item["minimum"]), _finite(item["maximum"])


def _series(name: Any, dims: tuple[tuple[Any, Any, int], ...], unit: Any) -> SeriesKey:
    """Validate a metric identity the way the models would; raises _Unsure when in doubt."""
    if type(name) is not str or not 1 <= len(name) <= 255:
        raise _Unsure
    if type(unit) is not str or unit not in _UNITS or len(dims) > schemas.MAX_DIMENSIONS:
        raise _Unsure
    for dim_name, dim_value, fields in dims:
        if fields != 2 or type(dim_name) is not str or type(dim_value) is not str:
            raise _Unsure
        if not 1 <= len(dim_name) <= 255 or not _DIMENSION_NAME.fullmatch(dim_name):
            raise _Unsure
        if not 1 <= len(dim_value) <= 1024:
            raise _Unsure
    return name, tuple(sorted((n, v) for n, v, _fields in dims)), unit


def _zone_seconds(zone: str) -> int:
    """Seconds east of UTC of ``Z`` or ``+HH:MM``/``-HH:MM``; raises _Unsure out of range."""
    if zone == "Z":
        return 0
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    if hours > 23 or minutes > 59:
        raise _Unsure
    return (-1 if zone[0] == "-" else 1) * (hours * 3600 + minutes * 60)


def parse_timestamps(stamps: list[str]) -> np.ndarray:
    """Epoch seconds of ISO 8601 timestamps with an offset, as ``datetime.timestamp()`` gives.

    Only ``YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+HH:MM|-HH:MM)`` with valid fields; raises _Unsure (or
    NumPy's ValueError for a day, hour, minute or second out of range) for anything else, which
    is left to the models. NumPy parses the local part in C; each distinct offset is read once.
    """
    alike = _parse_alike(stamps)
    if alike is not None:
        return alike
    joined = "\n".join(stamps)
    # Year 0 is a date to NumPy, not to Python's datetime.
    if not _STAMPS.fullmatch(joined) or joined.startswith("0000") or "\n0000" in joined:
        raise _Unsure
    zones = [stamp[-1] if stamp[-1] == "Z" else stamp[-6:] for stamp in stamps]
    local = [stamp[:-1] if stamp[-1] == "Z" else stamp[:-6] for stamp in stamps]
    offset_of = {zone: _zone_seconds(zone) for zone in set(zones)}
    offsets = np.fromiter(map(offset_of.__getitem__, zones), np.int64, count=len(zones))
    micros = np.array(local, dtype="datetime64[us]").astype(np.int64)
    # Exact integer microseconds, then one division, as timedelta does.
    epoch_seconds: np.ndarray = (micros - offsets * 1_000_000) / 1e6
    return epoch_seconds


# Character columns of ``YYYY-MM-DDTHH:MM:SS``: where the digits are, and the punctuation.
_DIGIT_COLUMNS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
_PUNCTUATION = [(4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":")]
_ZONE = re.compile(r"Z|[+-][0-9]{2}:[0-9]{2}")
_ZERO = ord("0")


def _parse_alike(stamps: list[str]) -> np.ndarray | None:
    """:func:`parse_timestamps` for stamps written alike, as one client writes a batch: one
    width, one zone. They are checked as a matrix of characters, column by column, instead of by
    a pattern, and NumPy parses their local part from it. None when they are not alike, or not
    plainly valid: the general path then decides.
    """
    first = stamps[0]
    width = len(first)
    if not width:
        return None  # not a time at all: the general path refuses it, naming the datum
    zone = first[-1] if first[-1] == "Z" else first[-6:]
    local = width - len(zone)
    if not (local == 19 or 21 <= local <= 26) or not _ZONE.fullmatch(zone):
        return None  # the fraction, when there is one, has 1 to 6 digits
    if set(map(len, stamps)) != {width}:
        return None
    try:
        text = "".join(stamps).encode("ascii")
    except UnicodeEncodeError:
        return None
    chars = np.frombuffer(text, np.uint8).reshape(len(stamps), width)
    if (chars[:, local:] != chars[0, local:]).any():
        return None
    punctuation = [*_PUNCTUATION, (19, ".")] if local > 19 else _PUNCTUATION
    # Unsigned: a character below "0" wraps round to a large number.
    if ((chars[:, [*_DIGIT_COLUMNS, *range(20, local)]] - _ZERO) > 9).any():
        return None
    for column, char in punctuation:
        if (chars[:, column] != ord(char)).any():
            return None
    if (chars[:, :4] == _ZERO).all(axis=1).any():
        return None  # year 0: a date to NumPy, not to Python's datetime
    micros = chars[:, :local].copy().view(f"S{local}").ravel().astype("datetime64[us]")
    # Exact integer microseconds, then one division, as timedelta does.
    offset = _zone_seconds(zone) * 1_000_000
    epoch_seconds: np.ndarray = (micros.astype(np.int64) - offset) / 1e6
    return epoch_seconds


def decode(document: Any) -> Batch | None:
    """The batch in a parsed PutMetricData JSON document, or None to let the models decide."""
    try:
        return _decode(document)
    except (_Unsure, TypeError, KeyError, ValueError, OverflowError):
        return None


def _decode(document: Any) -> Batch:
    if type(document) is not dict or document.keys() != {"namespace", "metric_data"}:
        raise _Unsure
    namespace, data = document["namespace"], document["metric_data"]
    if type(namespace) is not str or not 1 <= len(namespace) <= 255:
        raise _Unsure
    if not _NAMESPACE.fullmatch(namespace):
        raise _Unsure
    if type(data) is not list or not 1 <= len(data) <= schemas.MAX_DATUMS:
        raise _Unsure
    columnar = _decode_simple(namespace, data)
    if columnar is not None:
        return columnar
    size = len(data)
    cols = _Columns(size)
    index_of: dict[SeriesKey, int] = {}
    seen: dict[tuple[Any, ...], int] = {}  # identity as sent -> series index
    doubled: set[int] = set()  # series with a dimension name twice
    series_of = [0] * size
    stamps: list[str] = []
    stamp_at: list[int] = []
    singles, single_at = cols.singles, cols.single_at
    no_dimensions: list[Any] = []
    for index, datum in enumerate(data):
        if type(datum) is not dict or not datum.keys() <= _DATUM_KEYS:
            raise _Unsure
        dims = datum.get("dimensions", no_dimensions)
        if type(dims) is not list:
            raise _Unsure
        sent = (
            datum["metric_name"],
            tuple([(d["name"], d["value"], len(d)) for d in dims]),
            datum.get("unit", "None"),
        )
        position = seen.get(sent)
        if position is None:
            key = _series(*sent)
            position = seen[sent] = index_of.setdefault(key, len(index_of))
            if len({n for n, _v in key[1]}) != len(key[1]):
                doubled.add(position)
        series_of[index] = position
        stamp = datum.get("timestamp")
        if stamp is not None:
            if type(stamp) is not str:
                raise _Unsure
            stamps.append(stamp)
            stamp_at.append(index)
        resolution = datum.get("storage_resolution", 60)
        if type(resolution) is not int:
            raise _Unsure
        value = datum.get("value")
        values = datum.get("values")
        counts = datum.get("counts")
        statistic_values = datum.get("statistic_values")
        if counts is not None:
            _numbers(counts, positive=True)
        simple = values is None and statistic_values is None and resolution == 60
        if simple and (type(value) is float or type(value) is int):  # the common case
            singles.append(value)
            single_at.append(index)
            continue
        if values is not None:
            _numbers(values)
        stats = None if statistic_values is None else _statistic_set(statistic_values)
        if value is not None:
            value = _finite(value)
        if resolution not in (1, 60):
            cols.suspect[index] = True
            continue
        try:
            computed = datum_stats(index, value, values, counts, stats)
        except InvalidRequest:
            cols.suspect[index] = True
            cols.sketchable[index] = False
            continue
        if value is not None:
            singles.append(value)
            single_at.append(index)
        else:
            cols.other(index, computed)
    checked = np.array(singles, dtype=np.float64)
    if not np.isfinite(checked).all():
        raise _Unsure  # NaN and infinities are the models' to refuse
    at = np.array(single_at, dtype=np.int64)
    cols.suspect[at[np.abs(checked) > schemas.LARGEST_VALUE]] = True
    series = np.array(series_of, dtype=np.int64)
    if doubled:
        cols.suspect[np.isin(series, list(doubled))] = True
    timestamps = np.full(size, np.nan)
    if stamps:
        timestamps[np.array(stamp_at, dtype=np.int64)] = parse_timestamps(stamps)

    return cols.finish(namespace, list(index_of), series, timestamps, _model_of(data))


def _model_of(data: list[Any]) -> Callable[[int], schemas.MetricDatum]:
    def model(index: int) -> schemas.MetricDatum:
        return schemas.MetricDatum.model_validate(data[index])

    return model


def _decode_simple(namespace: str, data: list[Any]) -> Batch | None:
    """The common batch decoded column by column, without a Python step per datum.

    Only for batches where every datum is a single number in ``value`` at the standard
    resolution; None for anything else (the per-datum loop of :func:`_decode` then decides, and is
    the reference: this gives the same Batch). Each column is pulled out of the datums with
    C-level ``map`` calls, validated as a whole, and each distinct metric identity once.
    """
    size = len(data)
    if set(map(type, data)) != {dict}:
        return None
    sent_keys = set().union(*data)
    if not sent_keys <= _SIMPLE_KEYS:
        return None
    get = dict.get
    values = list(map(get, data, repeat("value")))
    if not set(map(type, values)) <= _NUMBER_TYPES:
        return None
    if "storage_resolution" in sent_keys:
        resolutions = list(map(get, data, repeat("storage_resolution"), repeat(60)))
        if resolutions.count(60) != size or set(map(type, resolutions)) != {int}:
            return None
    dims = list(map(get, data, repeat("dimensions"), repeat(_NO_DIMENSIONS)))
    if set(map(type, dims)) != {list}:
        return None
    flat = list(chain.from_iterable(dims))
    if flat and (set(map(type, flat)) != {dict} or set(map(len, flat)) != {2}):
        return None
    # Two fields, both present: exactly name and value (KeyError otherwise: the models decide).
    names, dim_values = list(map(_NAME, flat)), list(map(_VALUE, flat))
    # Each datum's identity as sent: metric name, unit, then its dimensions in the order given,
    # (name, value) pairs flattened when every datum has as many, else one tuple of pairs.
    identity: list[Iterable[Any]] = [
        map(_METRIC_NAME, data),
        map(get, data, repeat("unit"), repeat("None")),
    ]
    width = len(dims[0])
    uniform = all(map(width.__eq__, map(len, dims)))
    if uniform:
        for j in range(width):
            identity += [names[j::width], dim_values[j::width]]
    else:
        pairs = list(zip(names, dim_values, strict=True))
        ends = list(accumulate(map(len, dims)))
        identity.append(map(tuple, map(pairs.__getitem__, map(slice, [0, *ends[:-1]], ends))))
    sent = list(zip(*identity, strict=True))
    # One hashing pass: each datum's first datum of the same identity, in order of appearance.
    first_of: dict[tuple[Any, ...], int] = {}
    firsts = np.fromiter(map(first_of.setdefault, sent, range(size)), np.int64, count=size)
    position = np.zeros(size, dtype=np.int64)
    index_of: dict[SeriesKey, int] = {}
    doubled: list[int] = []  # series with a dimension name twice
    for sent_identity, first in first_of.items():
        name, unit, *rest = sent_identity
        if uniform:
            triples = tuple((rest[2 * j], rest[2 * j + 1], 2) for j in range(width))
        else:
            triples = tuple((n, v, 2) for n, v in rest[0])
        key = _series(name, triples, unit)
        at = position[first] = index_of.setdefault(key, len(index_of))
        if len({n for n, _v in key[1]}) != len(key[1]):
            doubled.append(at)
    series = position[firsts]
    singles = np.array(values, dtype=np.float64)
    if not np.isfinite(singles).all():
        raise _Unsure  # NaN and infinities are the models' to refuse
    suspect = np.abs(singles) > schemas.LARGEST_VALUE
    if doubled:
        suspect |= np.isin(series, doubled)
    stamps: list[Any] = list(map(get, data, repeat("timestamp")))
    kinds = set(map(type, stamps))
    if kinds == {str}:
        timestamps = parse_timestamps(stamps)
    else:
        timestamps = np.full(size, np.nan)
        if kinds == {str, _NONE_TYPE}:
            given = [i for i, stamp in enumerate(stamps) if stamp is not None]
            timestamps[given] = parse_timestamps([stamps[i] for i in given])
        elif kinds != {_NONE_TYPE}:
            raise _Unsure
    return Batch(
        namespace=namespace,
        series=list(index_of),
        series_of=series,
        timestamps=timestamps,
        count=np.ones(size),
        total=singles,
        low=singles.copy(),
        high=singles.copy(),
        sketchable=np.ones(size, dtype=bool),
        samples=singles.copy(),
        sample_owner=np.arange(size, dtype=np.int64),
        suspect=suspect,
        datum=_model_of(data),
    )
