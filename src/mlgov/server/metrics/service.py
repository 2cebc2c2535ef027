"""Metrics logic: validate and ingest batches, roll them up, answer statistics, expire old data.

Every datapoint lands in three rollups at once (1 min, 5 min, 1 h), each holding SampleCount, Sum,
Minimum, Maximum and a KLL sketch of the raw values. Retention follows CloudWatch's tiers: 1-minute
buckets for 15 days, 5-minute buckets for 63 days, hourly buckets for 455 days. A query's period
must fit the tier its start time falls in, or it returns no datapoints, as in CloudWatch.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from datasketches import kll_doubles_sketch
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mlgov.errors import ErrorCode, InvalidRequest
from mlgov.server.db.base import utc_now
from mlgov.server.db.engine import unit_of_work
from mlgov.server.kit.pagination import PageRequest
from mlgov.server.metrics import batch as batches
from mlgov.server.metrics import expressions, pending, schemas
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
MAX_SKETCH_EXPANSION = batches.MAX_SKETCH_EXPANSION
# An ingest folds the log once this many batches wait; a fold reads at most FOLD_LIMIT at a time.
FOLD_AT_BATCHES = 128
FOLD_LIMIT_BATCHES = 256


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


def put_metric_data(
    session: Session, account_id: str, data: schemas.PutMetricData, now: datetime | None = None
) -> schemas.PutMetricDataResult:
    """Ingest a validated model (in-process callers); the API decodes JSON into columns."""
    return ingest(session, account_id, batches.from_model(data), now)


def _raise_first_error(data: batches.Batch, first: int, now: datetime) -> None:
    """Re-run the per-datum checks from the first flagged datum on, raising the first failure."""
    received = now.timestamp()
    earliest = received - PAST_LIMIT.total_seconds()
    latest = received + FUTURE_LIMIT.total_seconds()
    for index in range(first, data.size):
        datum = data.datum(index)
        moment = datum.timestamp or now
        if not earliest <= moment.timestamp() <= latest:
            raise batches.bad_datum(
                index,
                f"timestamp {moment.isoformat()} is outside the accepted window "
                f"(14 days back to 2 hours ahead of {now.isoformat(timespec='seconds')})",
            )
        batches.check_structure(index, datum)


@dataclass
class _Groups:
    """Datums grouped by (metric, bucket) at one resolution: one rollup row each."""

    resolution: int
    metric_ids: list[int]
    buckets: list[int]
    count: list[float]
    total: list[float]
    low: list[float]
    high: list[float]
    sketchable: list[bool]
    sample_bounds: list[int]  # samples of group i: sorted_samples[bounds[i] : bounds[i + 1]]


def ingest(
    session: Session, account_id: str, data: batches.Batch, now: datetime | None = None
) -> schemas.PutMetricDataResult:
    """Accept a batch: check it, make sure its metrics exist, and append it to the ingest log.

    Its datums land in their 1-minute, 5-minute and 1-hour rollups when the log is folded: by
    the ingest that finds ``FOLD_AT_BATCHES`` batches waiting, or by the next reader, whichever
    comes first. Folding many batches at once writes each busy bucket once, not once a batch.
    """
    now = now or utc_now()
    received = now.timestamp()
    stamps = np.where(np.isnan(data.timestamps), received, data.timestamps)
    outside = (stamps < received - PAST_LIMIT.total_seconds()) | (
        stamps > received + FUTURE_LIMIT.total_seconds()
    )
    flagged = data.suspect | outside
    if flagged.any():
        _raise_first_error(data, int(np.argmax(flagged)), now)
    seconds = np.floor(stamps).astype(np.int64)
    series = data.series_of

    newest = np.full(len(data.series), np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(newest, series, seconds)
    repo = MetricsRepository(session)
    keys = [(series_hash(data.namespace, name, dims), unit) for name, dims, unit in data.series]
    ids = repo.ensure_metrics(
        account_id,
        [
            NewMetric(
                series_hash=key[0],
                unit=key[1],
                namespace=data.namespace,
                name=name,
                dimensions=[{"name": n, "value": v} for n, v in dims],
                last_timestamp=int(last),
            )
            for key, (name, dims, _unit), last in zip(keys, data.series, newest, strict=True)
        ],
        epoch(now),
    )
    metric_of_series = np.array([ids[key] for key in keys], dtype=np.int64)
    datums = pending.Datums(
        metric_id=metric_of_series[series],
        second=seconds,
        count=data.count,
        total=data.total,
        low=data.low,
        high=data.high,
        sketchable=data.sketchable,
        samples=data.samples,
        sample_owner=data.sample_owner,
    )
    repo.append_pending(pending.encode(datums), data.size, epoch(now))
    if repo.pending_batches(at_most=FOLD_AT_BATCHES) >= FOLD_AT_BATCHES:
        fold_pending(session, wait=False)
    return schemas.PutMetricDataResult(accepted=data.size, metrics=len(data.series))


def fold_pending(session: Session, *, wait: bool = True) -> int:
    """Fold every batch waiting in the ingest log into the rollups; the datums folded.

    Readers call this (through :func:`settled`) with ``wait``: on PostgreSQL they queue behind a
    fold in progress, so an acknowledged batch is in every answer. An ingest that finds the log
    long folds without waiting, and leaves it to the fold in progress if there is one.
    """
    repo = MetricsRepository(session)
    # What waits now, not what arrives meanwhile: under steady ingest on PostgreSQL a reader
    # would otherwise fold for as long as batches keep committing. Every batch acknowledged
    # before this call is at or below it.
    newest = repo.newest_pending()
    if not newest or not repo.lock_folding(wait=wait):
        return 0
    folded = 0
    while waiting := repo.pending(limit=FOLD_LIMIT_BATCHES, through=newest):
        datums = pending.decode([stream for _id, stream in waiting])
        # A metric expired (silent for 15 months) since its batch was accepted takes the batch's
        # datums with it, rather than failing this fold and every one after it.
        named = np.unique(datums.metric_id)
        existing = repo.existing_metric_ids(named.tolist())
        if len(existing) < len(named):
            datums = datums.where(np.isin(datums.metric_id, list(existing)))
        if datums.size:
            _store_datums(repo, datums)
        repo.forget_pending([log_id for log_id, _stream in waiting])
        folded += datums.size
    return folded


def settled(session: Session) -> MetricsRepository:
    """The repository to read rollups through, once the ingest log is folded into them.

    On PostgreSQL the fold commits in a transaction of its own, so that the fold lock is held
    for the fold alone, not for the rest of a long reader (an alarm round); the reader's next
    statement sees the fold (READ COMMITTED). SQLite folds in the reader's transaction, which
    holds the only write lock already.
    """
    bind = session.get_bind()
    if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
        with unit_of_work(sessionmaker(bind=bind)) as own:
            fold_pending(own)
    else:
        fold_pending(session)
    return MetricsRepository(session)


def _store_datums(repo: MetricsRepository, d: pending.Datums) -> None:
    """Datums of any number of batches into their rollups: sorted by (metric, time) once, each
    resolution's buckets are runs of that order, their statistics come from NumPy reductions, and
    each bucket gets one sketch update and one row written."""
    order = np.lexsort((d.second, d.metric_id))
    metric_sorted, seconds_sorted = d.metric_id[order], d.second[order]
    rank = np.empty(d.size, dtype=np.int64)
    rank[order] = np.arange(d.size)
    sample_rank = rank[d.sample_owner]
    sample_order = np.argsort(sample_rank, kind="stable")
    samples = np.ascontiguousarray(d.samples[sample_order])
    sample_rank = sample_rank[sample_order]
    columns = [a[order] for a in (d.count, d.total, d.low, d.high)]
    sketchable = d.sketchable[order]
    groups = []
    for resolution in RESOLUTIONS:
        bucket = seconds_sorted - seconds_sorted % resolution
        change = np.ones(d.size, dtype=bool)
        change[1:] = (metric_sorted[1:] != metric_sorted[:-1]) | (bucket[1:] != bucket[:-1])
        starts = np.flatnonzero(change)
        bounds = np.searchsorted(sample_rank, np.append(starts, d.size))
        count, total, low, high = (
            np.add.reduceat(columns[0], starts),
            np.add.reduceat(columns[1], starts),
            np.minimum.reduceat(columns[2], starts),
            np.maximum.reduceat(columns[3], starts),
        )
        groups.append(
            _Groups(
                resolution,
                metric_sorted[starts].tolist(),
                bucket[starts].tolist(),
                count.tolist(),
                total.tolist(),
                low.tolist(),
                high.tolist(),
                np.logical_and.reduceat(sketchable, starts).tolist(),
                bounds.tolist(),
            )
        )
    _store_rollups(repo, groups, samples)


def _merged(stored: Aggregate | None, groups: _Groups, i: int, samples: np.ndarray) -> Aggregate:
    """Group ``i`` added to what is stored (None: a new bucket); raw values go into the sketch."""
    blob = None
    first, last = groups.sample_bounds[i], groups.sample_bounds[i + 1]
    if not groups.sketchable[i] or (stored is not None and stored.sketch is None):
        pass  # percentiles are gone for this bucket
    elif stored is not None and last == first:
        blob = stored.sketch  # nothing to add: the stored sketch as it is
    else:
        sketch = (
            kll_doubles_sketch(SKETCH_K)
            if stored is None
            else kll_doubles_sketch.deserialize(stored.sketch)
        )
        if last > first:
            sketch.update(samples[first:last])
        blob = sketch.serialize()
    if stored is None:
        return Aggregate(groups.count[i], groups.total[i], groups.low[i], groups.high[i], blob)
    return Aggregate(
        stored.sample_count + groups.count[i],
        stored.sum + groups.total[i],
        min(stored.minimum, groups.low[i]),
        max(stored.maximum, groups.high[i]),
        blob,
    )


def _store_rollups(repo: MetricsRepository, groups: list[_Groups], samples: np.ndarray) -> None:
    spans = {g.resolution: (min(g.buckets), max(g.buckets)) for g in groups}
    metric_ids = sorted({m for g in groups for m in g.metric_ids})
    existing = repo.rollups_in(metric_ids, spans, for_update=True)
    rows: dict[RollupKey, Aggregate] = {}
    fresh: set[RollupKey] = set()
    where: dict[RollupKey, tuple[_Groups, int]] = {}
    for g in groups:
        for i, (metric_id, bucket) in enumerate(zip(g.metric_ids, g.buckets, strict=True)):
            key = (metric_id, g.resolution, bucket)
            stored = existing.get(key)
            if stored is None:
                fresh.add(key)
            where[key] = (g, i)
            rows[key] = _merged(stored, g, i, samples)
    raced = repo.upsert_rollups(rows, fresh)
    if raced:
        # Another writer created these buckets since we looked: add ours to theirs.
        stored_now = repo.rollups_for(sorted(raced))
        repo.upsert_rollups(
            {k: _merged(stored_now[k], *where[k], samples) for k in sorted(raced)}, set()
        )


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
    repo = settled(session)
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
    return settled(session).expire(cutoffs, moment - METRIC_EXPIRY_SECONDS)


# --- GetMetricData: metric stats and metric math -------------------------------------------------

MAX_SEARCHED_METRICS = 500


def get_metric_data(
    session: Session,
    account_id: str,
    request: schemas.MetricDataRequest,
    now: datetime | None = None,
) -> schemas.MetricData:
    """Fetch metric stats and evaluate expressions over them, each after the queries it reads."""
    now = now or utc_now()
    by_id: dict[str, schemas.MetricDataQuery] = {}
    for query in request.queries:
        if query.id in by_id:
            raise InvalidRequest(
                f"query id {query.id!r} is used twice", code=ErrorCode.INVALID_QUERY
            )
        by_id[query.id] = query
    trees = {q.id: expressions.parse(q.expression) for q in request.queries if q.expression}
    budget = [MAX_SEARCHED_METRICS]

    def search(wanted: expressions.Search) -> list[expressions.Series]:
        return _search(session, account_id, wanted, request, now, budget)

    values: dict[str, expressions.Value] = {}
    for query_id in _evaluation_order(by_id, trees):
        query = by_id[query_id]
        if query.metric_stat is not None:
            values[query_id] = _stat_series(
                session, account_id, query.metric_stat, request, now, query.label
            )
        else:
            values[query_id] = expressions.evaluate(trees[query_id], values, search)
    results: list[schemas.MetricDataResult] = []
    for query in request.queries:
        if query.return_data:
            results.extend(_results(query, values[query.id], request.start_time))
    return schemas.MetricData(results=results)


def _evaluation_order(
    queries: dict[str, schemas.MetricDataQuery], trees: dict[str, ast.expr]
) -> list[str]:
    order: list[str] = []
    state: dict[str, str] = {}  # "visiting" or "done"

    def visit(query_id: str, path: tuple[str, ...]) -> None:
        if state.get(query_id) == "done":
            return
        if state.get(query_id) == "visiting":
            cycle = " -> ".join((*path, query_id))
            raise InvalidRequest(
                f"expressions read each other in a cycle: {cycle}", code=ErrorCode.INVALID_QUERY
            )
        state[query_id] = "visiting"
        for name in sorted(expressions.references(trees[query_id])) if query_id in trees else ():
            if name not in queries:
                raise InvalidRequest(
                    f"expression {query_id!r} reads {name!r}, which is not a query id",
                    code=ErrorCode.INVALID_QUERY,
                )
            visit(name, (*path, query_id))
        state[query_id] = "done"
        order.append(query_id)

    for query_id in queries:
        visit(query_id, ())
    return order


def _stat_series(
    session: Session,
    account_id: str,
    stat: schemas.MetricStat,
    request: schemas.MetricDataRequest,
    now: datetime,
    label: str | None,
) -> expressions.Series | list[expressions.Series]:
    """One series, or one per unit when the metric has data in several and no unit is asked."""
    percentile = stat.stat.startswith("p")
    found = get_statistics(
        session,
        account_id,
        schemas.StatisticsQuery(
            namespace=stat.namespace,
            metric_name=stat.metric_name,
            dimensions=stat.dimensions,
            start_time=request.start_time,
            end_time=request.end_time,
            period=stat.period,
            statistics=[] if percentile else [schemas.Statistic(stat.stat)],
            extended_statistics=[stat.stat] if percentile else [],
            unit=stat.unit,
        ),
        now,
    )
    by_unit: dict[str, dict[int, float]] = {}
    for point in found.datapoints:
        value = (
            (point.extended_statistics or {}).get(stat.stat)
            if percentile
            else getattr(point, _FIELD[schemas.Statistic(stat.stat)])
        )
        points = by_unit.setdefault(point.unit, {})
        if value is not None:
            points[epoch(point.timestamp)] = float(value)
    name = label or stat.metric_name
    if len(by_unit) <= 1:
        return expressions.Series(name, next(iter(by_unit.values()), {}))
    return [expressions.Series(f"{name} ({unit})", pts) for unit, pts in sorted(by_unit.items())]


def _search(
    session: Session,
    account_id: str,
    wanted: expressions.Search,
    request: schemas.MetricDataRequest,
    now: datetime,
    budget: list[int],
) -> list[expressions.Series]:
    filters = [*wanted.dimension_names, *(f"{k}={v}" for k, v in wanted.dimension_values)]
    metrics = list_metrics(
        session,
        account_id,
        PageRequest(page_size=budget[0], after=None),
        namespace=wanted.namespace,
        metric_name=wanted.metric_name,
        dimensions=filters,
        now=now,
    )
    exact = [
        m
        for m in metrics
        if tuple(sorted(d["name"] for d in m.dimensions)) == wanted.dimension_names
    ]
    if len(metrics) > budget[0]:
        raise InvalidRequest(
            f"SEARCH matched more than {MAX_SEARCHED_METRICS} metrics in this request; narrow it",
            code=ErrorCode.INVALID_QUERY,
        )
    budget[0] -= len(exact)
    try:
        stat = schemas.MetricStat(
            namespace=wanted.namespace,
            metric_name="-",
            period=wanted.period,
            stat=wanted.statistic,
        )
    except ValidationError as exc:
        raise InvalidRequest(
            f"SEARCH statistic {wanted.statistic!r} is not SampleCount, Sum, Average, Minimum, "
            "Maximum or pNN",
            code=ErrorCode.INVALID_QUERY,
        ) from exc
    found: list[expressions.Series] = []
    for metric in exact:
        dims = [schemas.Dimension(name=d["name"], value=d["value"]) for d in metric.dimensions]
        label = " ".join([metric.name, *(f"{d.name}={d.value}" for d in dims)])
        series = _stat_series(
            session,
            account_id,
            stat.model_copy(
                update={
                    "metric_name": metric.name,
                    "dimensions": dims,
                    "unit": schemas.Unit(metric.unit),
                }
            ),
            request,
            now,
            label,
        )
        found.extend(series if isinstance(series, list) else [series])
    return found


def _results(
    query: schemas.MetricDataQuery, value: expressions.Value, start: datetime
) -> list[schemas.MetricDataResult]:
    if isinstance(value, float):  # a number over the whole range, stamped at its start
        points = {} if math.isnan(value) else {epoch(start): value}
        value = expressions.Series(query.label or query.id, points)
    many = isinstance(value, list)
    out = []
    for series in value if isinstance(value, list) else [value]:
        label = series.label if many else (query.label or series.label)
        stamps = sorted(series.points)
        out.append(
            schemas.MetricDataResult(
                id=query.id,
                label=label,
                timestamps=[from_epoch(t) for t in stamps],
                values=[series.points[t] for t in stamps],
            )
        )
    return out
