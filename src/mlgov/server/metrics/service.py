"""Metrics logic: validate and ingest batches, roll them up, answer statistics, expire old data.

Every datapoint lands in three rollups at once (1 min, 5 min, 1 h), each holding SampleCount, Sum,
Minimum, Maximum and a KLL sketch of the raw values. Retention follows CloudWatch's tiers: 1-minute
buckets for 15 days, 5-minute buckets for 63 days, hourly buckets for 455 days. A query's period
must fit the tier its start time falls in, or it returns no datapoints, as in CloudWatch.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from datasketches import kll_doubles_sketch
from sqlalchemy.orm import Session

from mlgov.errors import ErrorCode, InvalidRequest
from mlgov.server.db.base import utc_now
from mlgov.server.kit.pagination import PageRequest
from mlgov.server.metrics import schemas
from mlgov.server.metrics.repository import Aggregate, MetricsRepository, NewMetric, RollupKey
from mlgov.server.metrics.tables import Metric

MINUTE, FIVE_MINUTES, HOUR, DAY = 60, 300, 3600, 86_400
RESOLUTIONS = (MINUTE, FIVE_MINUTES, HOUR)
RETENTION_SECONDS = {MINUTE: 15 * DAY, FIVE_MINUTES: 63 * DAY, HOUR: 455 * DAY}
METRIC_EXPIRY_SECONDS = 455 * DAY
LISTED_FOR_SECONDS = 14 * DAY  # ListMetrics hides metrics without data for two weeks
PAST_LIMIT = timedelta(days=14)
FUTURE_LIMIT = timedelta(hours=2)
MAX_DATAPOINTS = 1440
SKETCH_K = 200
# Values/Counts are expanded into the sketch; past this many observations in one datum (or with
# fractional counts) the bucket keeps exact scalar statistics but gives up its percentiles.
MAX_SKETCH_EXPANSION = 100_000


def series_hash(namespace: str, name: str, dimensions: Iterable[tuple[str, str]]) -> str:
    canonical = json.dumps([namespace, name, sorted(dimensions)], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def epoch(moment: datetime) -> int:
    return math.floor(moment.timestamp())


def from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def percentile_rank(name: str) -> float:
    """``p99.9`` -> 0.999; raises for anything that is not a percentile in [0, 100]."""
    if not schemas.PERCENTILE.match(name):
        raise InvalidRequest(
            f"{name!r} is not a percentile statistic (p0 to p100, e.g. p99 or p99.95)",
            code=ErrorCode.INVALID_QUERY,
        )
    return float(name[1:]) / 100.0


# --- sketches --------------------------------------------------------------------------------


def new_sketch(values: np.ndarray | None = None) -> kll_doubles_sketch:
    sketch = kll_doubles_sketch(SKETCH_K)
    if values is not None and values.size:
        sketch.update(np.ascontiguousarray(values, dtype=np.float64))
    return sketch


def merge_blobs(blobs: Iterable[bytes | None]) -> kll_doubles_sketch | None:
    """One sketch of every blob; None if any bucket lost its percentiles."""
    merged = new_sketch()
    for blob in blobs:
        if blob is None:
            return None
        merged.merge(kll_doubles_sketch.deserialize(blob))
    return merged


def quantile(sketch: kll_doubles_sketch | None, rank: float, minimum: float) -> float | None:
    # CloudWatch gives no percentiles over negative values, nor without raw values.
    if sketch is None or sketch.is_empty() or minimum < 0:
        return None
    return float(sketch.get_quantile(rank))


# --- ingest ----------------------------------------------------------------------------------


@dataclass
class _Bucket:
    count: float = 0.0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    samples: list[np.ndarray] = field(default_factory=list)
    singles: list[float] = field(default_factory=list)
    sketchable: bool = True
    sketch: kll_doubles_sketch | None = None

    def add(self, count: float, total: float, low: float, high: float) -> None:
        self.count += count
        self.total += total
        self.low = min(self.low, low)
        self.high = max(self.high, high)

    def absorb(self, other: _Bucket) -> None:
        self.add(other.count, other.total, other.low, other.high)
        if not other.sketchable:
            self.sketchable = False
        elif self.sketchable and other.sketch is not None:
            self.sketch = self.sketch or new_sketch()
            self.sketch.merge(other.sketch)

    def aggregate(self) -> Aggregate:
        blob = None
        if self.sketchable:
            blob = (self.sketch or new_sketch()).serialize()
        return Aggregate(self.count, self.total, self.low, self.high, blob)


def _bad(index: int, message: str) -> InvalidRequest:
    return InvalidRequest(
        f"metric_data[{index}]: {message}",
        code=ErrorCode.INVALID_METRIC_DATA,
        details={"index": index},
    )


def _check_value(index: int, value: float, what: str) -> None:
    if abs(value) > schemas.LARGEST_VALUE:
        raise _bad(index, f"{what} {value} is outside -2^360..2^360")


def _datum_stats(
    index: int, datum: schemas.MetricDatum
) -> tuple[float, float, float, float, np.ndarray | None]:
    """(count, sum, min, max, raw values for the sketch); a single value is its own sample."""
    forms = [
        name for name in ("value", "values", "statistic_values") if getattr(datum, name) is not None
    ]
    if len(forms) != 1:
        raise _bad(
            index,
            "give exactly one of value, values (with counts) or statistic_values"
            + (f"; got {', '.join(forms)}" if forms else ""),
        )
    if datum.value is not None:
        v = datum.value
        if abs(v) > schemas.LARGEST_VALUE:
            _check_value(index, v, "value")
        return 1.0, v, v, v, None
    if datum.values is not None:
        if not datum.values:
            raise _bad(index, "values is empty")
        values = np.asarray(datum.values, dtype=np.float64)
        counts = (
            np.ones_like(values)
            if datum.counts is None
            else np.asarray(datum.counts, dtype=np.float64)
        )
        if counts.size != values.size:
            raise _bad(index, f"counts has {counts.size} entries, values has {values.size}")
        for value in datum.values:
            _check_value(index, value, "value")
        whole = np.all(counts == np.round(counts)) and counts.sum() <= MAX_SKETCH_EXPANSION
        samples = np.repeat(values, counts.astype(np.int64)) if whole else None
        return (
            float(counts.sum()),
            float(np.dot(values, counts)),
            float(values.min()),
            float(values.max()),
            samples,
        )
    stats = datum.statistic_values
    assert stats is not None
    for name in ("sum", "minimum", "maximum"):
        _check_value(index, getattr(stats, name), f"statistic_values.{name}")
    if stats.minimum > stats.maximum:
        raise _bad(index, "statistic_values.minimum is greater than statistic_values.maximum")
    # Only a set that stands for identical raw values keeps percentiles (CloudWatch's rule).
    samples = None
    count = stats.sample_count
    identical = stats.minimum == stats.maximum and math.isclose(
        stats.sum, stats.minimum * count, rel_tol=1e-9, abs_tol=1e-9
    )
    if identical and count == round(count) and count <= MAX_SKETCH_EXPANSION:
        samples = np.full(int(count), stats.minimum)
    return count, stats.sum, stats.minimum, stats.maximum, samples


def put_metric_data(
    session: Session, account_id: str, data: schemas.PutMetricData, now: datetime | None = None
) -> schemas.PutMetricDataResult:
    now = now or utc_now()
    received = now.timestamp()
    earliest = received - PAST_LIMIT.total_seconds()
    latest = received + FUTURE_LIMIT.total_seconds()
    metrics: dict[tuple[str, str], NewMetric] = {}
    minutes: dict[tuple[tuple[str, str], int], _Bucket] = {}
    keys: dict[tuple[str, tuple[tuple[str, str], ...], str], tuple[str, str]] = {}
    for index, datum in enumerate(data.metric_data):
        moment = datum.timestamp or now
        stamp = moment.timestamp()
        if not earliest <= stamp <= latest:
            raise _bad(
                index,
                f"timestamp {moment.isoformat()} is outside the accepted window "
                f"(14 days back to 2 hours ahead of {now.isoformat(timespec='seconds')})",
            )
        if datum.storage_resolution not in (1, 60):
            raise _bad(index, "storage_resolution must be 1 or 60")
        dims = tuple(sorted((d.name, d.value) for d in datum.dimensions))
        if len({name for name, _value in dims}) != len(dims):
            raise _bad(index, "a dimension name appears twice")
        count, total, low, high, samples = _datum_stats(index, datum)
        identity = (datum.metric_name, dims, datum.unit.value)
        key = keys.get(identity)
        if key is None:
            key = keys[identity] = (
                series_hash(data.namespace, datum.metric_name, dims),
                datum.unit.value,
            )
        seconds = math.floor(stamp)
        known = metrics.get(key)
        if known is None:
            metrics[key] = NewMetric(
                series_hash=key[0],
                unit=key[1],
                namespace=data.namespace,
                name=datum.metric_name,
                dimensions=[{"name": n, "value": v} for n, v in dims],
                last_timestamp=seconds,
            )
        elif seconds > known.last_timestamp:
            known.last_timestamp = seconds
        bucket = minutes.setdefault((key, seconds - seconds % MINUTE), _Bucket())
        bucket.add(count, total, low, high)
        if datum.value is not None:
            bucket.singles.append(datum.value)
        elif samples is None:
            bucket.sketchable = False
        elif bucket.sketchable:
            bucket.samples.append(samples)

    repo = MetricsRepository(session)
    ids = repo.ensure_metrics(account_id, list(metrics.values()), epoch(now))
    rollups: dict[RollupKey, _Bucket] = {}
    for (key, minute), bucket in minutes.items():
        if bucket.sketchable:
            bucket.sketch = new_sketch(np.concatenate([np.array(bucket.singles), *bucket.samples]))
        bucket.samples, bucket.singles = [], []
        metric_id = ids[key]
        rollups[(metric_id, MINUTE, minute)] = bucket
        for resolution in (FIVE_MINUTES, HOUR):
            coarse = rollups.setdefault(
                (metric_id, resolution, minute - minute % resolution), _Bucket()
            )
            coarse.absorb(bucket)
    _merge_rollups(repo, rollups)
    return schemas.PutMetricDataResult(accepted=len(data.metric_data), metrics=len(metrics))


def _merge_rollups(repo: MetricsRepository, rollups: dict[RollupKey, _Bucket]) -> None:
    existing = repo.rollups(list(rollups), for_update=True)
    fresh = {k: b.aggregate() for k, b in rollups.items() if k not in existing}
    raced = repo.insert_rollups(fresh)
    if raced:
        existing.update(repo.rollups(list(raced), for_update=True))
    changed: dict[RollupKey, Aggregate] = {}
    for key, stored in existing.items():
        bucket = rollups[key]
        sketch = None
        if stored.sketch is not None and bucket.sketchable:
            sketch = kll_doubles_sketch.deserialize(stored.sketch)
            if bucket.sketch is not None:
                sketch.merge(bucket.sketch)
        changed[key] = Aggregate(
            stored.sample_count + bucket.count,
            stored.sum + bucket.total,
            min(stored.minimum, bucket.low),
            max(stored.maximum, bucket.high),
            sketch.serialize() if sketch is not None else None,
        )
    repo.update_rollups(changed)


# --- queries ---------------------------------------------------------------------------------


def readable_resolution(start: datetime, period: int, now: datetime) -> int | None:
    """The coarsest stored resolution that answers ``period`` from ``start``; None if none does."""
    age = (now - start).total_seconds()
    finest = MINUTE if age <= 15 * DAY else FIVE_MINUTES if age <= 63 * DAY else HOUR
    if period % finest:
        return None
    return max(r for r in RESOLUTIONS if r >= finest and period % r == 0)


@dataclass
class PeriodAggregate:
    count: float
    total: float
    low: float
    high: float
    blobs: list[bytes | None]

    def statistic(self, name: str) -> float:
        if name == "SampleCount":
            return self.count
        if name == "Sum":
            return self.total
        if name == "Average":
            return self.total / self.count
        if name == "Minimum":
            return self.low
        return self.high


def fold(
    rows: Iterable[Sequence[object]], period: int, *, sketches: bool
) -> dict[int, PeriodAggregate]:
    """Rows of (metric_id, bucket, count, sum, min, max[, sketch]) by the epoch-aligned period."""
    out: dict[int, PeriodAggregate] = {}
    for row in rows:
        bucket = int(row[1])  # type: ignore[call-overload]
        start = bucket - bucket % period
        count, total, low, high = (float(row[i]) for i in range(2, 6))  # type: ignore[arg-type]
        blob = row[6] if sketches else None
        agg = out.get(start)
        if agg is None:
            out[start] = PeriodAggregate(count, total, low, high, [blob])  # type: ignore[list-item]
            continue
        agg.count += count
        agg.total += total
        agg.low = min(agg.low, low)
        agg.high = max(agg.high, high)
        agg.blobs.append(blob)  # type: ignore[arg-type]
    return out


def get_statistics(
    session: Session, account_id: str, query: schemas.StatisticsQuery, now: datetime | None = None
) -> schemas.Statistics:
    now = now or utc_now()
    if not query.statistics and not query.extended_statistics:
        raise InvalidRequest(
            "give at least one of statistics or extended_statistics", code=ErrorCode.INVALID_QUERY
        )
    ranks = {name: percentile_rank(name) for name in query.extended_statistics}
    if query.period % MINUTE:
        raise InvalidRequest(
            "period must be a multiple of 60 seconds (data is stored per minute)",
            code=ErrorCode.INVALID_QUERY,
        )
    if query.end_time <= query.start_time:
        raise InvalidRequest("end_time must be after start_time", code=ErrorCode.INVALID_QUERY)
    start, end = epoch(query.start_time), epoch(query.end_time)
    first = start - start % query.period
    wanted = math.ceil((end - first) / query.period)
    if wanted > MAX_DATAPOINTS:
        raise InvalidRequest(
            f"the query asks for up to {wanted} datapoints; the limit is {MAX_DATAPOINTS}: "
            "shorten the range or lengthen the period",
            code=ErrorCode.INVALID_QUERY,
        )
    label = query.metric_name
    resolution = readable_resolution(query.start_time, query.period, now)
    if resolution is None:
        return schemas.Statistics(label=label, datapoints=[])
    repo = MetricsRepository(session)
    dims = [(d.name, d.value) for d in query.dimensions]
    key = series_hash(query.namespace, query.metric_name, dims)
    series = repo.series(account_id, key, query.unit.value if query.unit else None)
    datapoints: list[schemas.Datapoint] = []
    for metric_id, unit in series:
        rows = repo.series_rollups([metric_id], resolution, first, end, sketches=bool(ranks))
        for period_start, agg in sorted(fold(rows, query.period, sketches=bool(ranks)).items()):
            point = schemas.Datapoint(timestamp=from_epoch(period_start), unit=unit)
            for stat in query.statistics:
                setattr(point, _FIELD[stat], agg.statistic(stat.value))
            if ranks:
                sketch = merge_blobs(agg.blobs)
                point.extended_statistics = {
                    name: quantile(sketch, rank, agg.low) for name, rank in ranks.items()
                }
            datapoints.append(point)
    datapoints.sort(key=lambda p: (p.timestamp, p.unit))
    return schemas.Statistics(label=label, datapoints=datapoints)


_FIELD = {
    schemas.Statistic.SAMPLE_COUNT: "sample_count",
    schemas.Statistic.SUM: "sum",
    schemas.Statistic.AVERAGE: "average",
    schemas.Statistic.MINIMUM: "minimum",
    schemas.Statistic.MAXIMUM: "maximum",
}


def parse_dimension_filters(filters: Sequence[str]) -> list[tuple[str, str | None]]:
    parsed: list[tuple[str, str | None]] = []
    for item in filters:
        name, sep, value = item.partition("=")
        if not name:
            raise InvalidRequest(
                f"dimension filter {item!r} must be NAME or NAME=VALUE",
                code=ErrorCode.INVALID_QUERY,
            )
        parsed.append((name, value if sep else None))
    return parsed


def list_metrics(
    session: Session,
    account_id: str,
    page: PageRequest,
    *,
    namespace: str | None = None,
    metric_name: str | None = None,
    dimensions: Sequence[str] = (),
    now: datetime | None = None,
) -> list[Metric]:
    """Metrics with data in the last two weeks, filtered; ``page_size + 1`` rows at most."""
    filters = parse_dimension_filters(dimensions)
    try:
        after = int(page.after) if page.after else None
    except ValueError:
        after = None
    active_since = epoch(now or utc_now()) - LISTED_FOR_SECONDS
    repo = MetricsRepository(session)
    found: list[Metric] = []
    while len(found) <= page.page_size:
        batch = repo.list_metrics(
            account_id,
            namespace=namespace,
            name=metric_name,
            after=after,
            active_since=active_since,
            limit=max(page.page_size + 1, 200),
        )
        if not batch:
            break
        for metric in batch:
            dims = {d["name"]: d["value"] for d in metric.dimensions}
            if all(n in dims and (v is None or dims[n] == v) for n, v in filters):
                found.append(metric)
        after = batch[-1].id
    return found[: page.page_size + 1]


def expire(session: Session, now: datetime | None = None) -> int:
    """Drop rollups past their tier's retention and metrics silent for 15 months."""
    moment = epoch(now or utc_now())
    cutoffs = {r: moment - keep for r, keep in RETENTION_SECONDS.items()}
    return MetricsRepository(session).expire(cutoffs, moment - METRIC_EXPIRY_SECONDS)
