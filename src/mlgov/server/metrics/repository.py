"""Every metrics query. Writes are set-based: one statement per batch, never one per datapoint."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, cast

import numpy as np
from sqlalchemy import (
    Row,
    Select,
    delete,
    select,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mlgov.server.db.driver import placeholder, placeholders
from mlgov.server.metrics.tables import Metric, MetricIngestLog, MetricRollup

# Bound parameters per statement stay well under SQLite's limit (32,766) and PostgreSQL's (65,535).
CHUNK = 500
# The PostgreSQL advisory lock held by the one transaction folding the ingest log.
FOLD_LOCK = 0x6D6C676F76


@dataclass
class NewMetric:
    series_hash: str
    unit: str
    namespace: str
    name: str
    dimensions: list[dict[str, str]]
    last_timestamp: int


@dataclass
class Aggregate:
    """One bucket's worth of data: the scalar statistics and the serialized sketch (or None)."""

    sample_count: float
    sum: float
    minimum: float
    maximum: float
    sketch: bytes | None


RollupKey = tuple[int, int, int]  # metric id, resolution, bucket
_ROLLUP_VALUES = ("sample_count", "sum", "minimum", "maximum", "sketch")
_ROLLUP_SQL = "metric_id, resolution, bucket, " + ", ".join(_ROLLUP_VALUES)
_ROLLUP_COLUMNS = (
    MetricRollup.metric_id,
    MetricRollup.resolution,
    MetricRollup.bucket,
    MetricRollup.sample_count,
    MetricRollup.sum,
    MetricRollup.minimum,
    MetricRollup.maximum,
    MetricRollup.sketch,
)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class MetricsRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _insert(self, table: Any) -> Any:
        if self.session.get_bind().dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    @property
    def _locks(self) -> bool:
        # SQLite has no row locks; BEGIN IMMEDIATE already serializes writers.
        return self.session.get_bind().dialect.name == "postgresql"

    @property
    def _mark(self) -> str:
        return placeholder(self.session.connection())

    def _marks(self, count: int) -> str:
        return placeholders(self.session.connection(), count)

    # --- identity ---

    def metric_ids(
        self, account_id: str, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[int, int]]:
        """(series hash, unit) -> (id, last timestamp) of those that exist."""
        found: dict[tuple[str, str], tuple[int, int]] = {}
        hashes = sorted({h for h, _unit in keys})
        for part in _chunks(hashes):
            result = self.session.connection().exec_driver_sql(
                f"SELECT series_hash, unit, id, last_timestamp FROM {Metric.__tablename__} "
                f"WHERE account_id = {self._mark} AND series_hash IN ({self._marks(len(part))})",
                (account_id, *part),
            )
            rows = result.cursor.fetchall()
            result.close()
            for series_hash, unit, metric_id, last in rows:
                found[(series_hash, unit)] = (metric_id, last)
        return found

    def ensure_metrics(
        self, account_id: str, metrics: Sequence[NewMetric], now: int
    ) -> dict[tuple[str, str], int]:
        """Ids of the metrics, creating the missing ones, and each one's newest timestamp."""
        known = self.metric_ids(account_id, [(m.series_hash, m.unit) for m in metrics])
        missing = [m for m in metrics if (m.series_hash, m.unit) not in known]
        if missing:
            # A concurrent writer may create the same metric: its row wins, ours is skipped.
            self.session.execute(
                self._insert(Metric).on_conflict_do_nothing(),
                [
                    {
                        "account_id": account_id,
                        "namespace": m.namespace,
                        "name": m.name,
                        "dimensions": m.dimensions,
                        "series_hash": m.series_hash,
                        "unit": m.unit,
                        "created_at": now,
                        "last_timestamp": m.last_timestamp,
                    }
                    for m in missing
                ],
            )
            known.update(self.metric_ids(account_id, [(m.series_hash, m.unit) for m in missing]))
        # Only metrics whose newest timestamp moves are written; the condition keeps a
        # concurrent writer's newer timestamp.
        stale = [
            (m.last_timestamp, known[key][0], m.last_timestamp)
            for m in metrics
            if (key := (m.series_hash, m.unit)) in known and known[key][1] < m.last_timestamp
        ]
        if stale:
            self.session.connection().exec_driver_sql(
                f"UPDATE {Metric.__tablename__} SET last_timestamp = {self._mark} "
                f"WHERE id = {self._mark} AND last_timestamp < {self._mark}",
                stale,
            )
        return {key: metric_id for key, (metric_id, _last) in known.items()}

    def series(
        self, account_id: str, series_hash: str, unit: str | None
    ) -> Sequence[Row[tuple[int, str]]]:
        query = select(Metric.id, Metric.unit).where(
            Metric.account_id == account_id, Metric.series_hash == series_hash
        )
        if unit is not None:
            query = query.where(Metric.unit == unit)
        return self.session.execute(query).all()

    def list_metrics(
        self,
        account_id: str,
        *,
        namespace: str | None,
        name: str | None,
        after: int | None,
        active_since: int | None,
        limit: int,
    ) -> Sequence[Metric]:
        query: Select[tuple[Metric]] = (
            select(Metric).where(Metric.account_id == account_id).order_by(Metric.id).limit(limit)
        )
        if namespace is not None:
            query = query.where(Metric.namespace == namespace)
        if name is not None:
            query = query.where(Metric.name == name)
        if after is not None:
            query = query.where(Metric.id > after)
        if active_since is not None:
            query = query.where(Metric.last_timestamp >= active_since)
        return self.session.execute(query).scalars().all()

    def recent_in_namespaces(self, namespaces: Sequence[str], since: int) -> Sequence[Metric]:
        if not namespaces:
            return []
        return (
            self.session.execute(
                select(Metric)
                .where(Metric.namespace.in_(namespaces), Metric.last_timestamp >= since)
                .order_by(Metric.id)
            )
            .scalars()
            .all()
        )

    def all_series(self) -> Sequence[Row[tuple[int, str, str, str]]]:
        return self.session.execute(
            select(Metric.id, Metric.account_id, Metric.series_hash, Metric.unit)
        ).all()

    def existing_metric_ids(self, ids: Sequence[int]) -> set[int]:
        found: set[int] = set()
        for part in _chunks(list(ids)):
            result = self.session.connection().exec_driver_sql(
                f"SELECT id FROM {Metric.__tablename__} WHERE id IN ({self._marks(len(part))})",
                tuple(part),
            )
            found.update(int(row[0]) for row in result.cursor.fetchall())
            result.close()
        return found

    # --- the ingest log ---

    def append_pending(self, datums: bytes, datapoints: int, received_at: int) -> None:
        self.session.connection().exec_driver_sql(
            f"INSERT INTO {MetricIngestLog.__tablename__} (received_at, datapoints, datums) "
            f"VALUES ({self._marks(3)})",
            (received_at, datapoints, datums),
        )

    def pending_batches(self, *, at_most: int) -> int:
        """How many batches wait in the log, counted up to ``at_most``."""
        result = self.session.connection().exec_driver_sql(
            f"SELECT count(*) FROM (SELECT 1 FROM {MetricIngestLog.__tablename__} "
            f"LIMIT {int(at_most)}) AS waiting"
        )
        return int(result.scalar_one())

    def lock_folding(self, *, wait: bool) -> bool:
        """Make this transaction the only one folding the log until it ends; False if another
        holds that and ``wait`` is false. SQLite's writers are serialized already."""
        if not self._locks:
            return True
        function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
        taken = self.session.connection().exec_driver_sql(f"SELECT {function}({FOLD_LOCK})")
        return wait or bool(taken.scalar_one())

    def newest_pending(self) -> int:
        result = self.session.connection().exec_driver_sql(
            f"SELECT coalesce(max(id), 0) FROM {MetricIngestLog.__tablename__}"
        )
        return int(result.scalar_one())

    def pending(self, *, limit: int, through: int) -> list[tuple[int, bytes]]:
        """The oldest waiting batches up to log id ``through``: (log id, datums)."""
        result = self.session.connection().exec_driver_sql(
            f"SELECT id, datums FROM {MetricIngestLog.__tablename__} "
            f"WHERE id <= {self._mark} ORDER BY id LIMIT {int(limit)}",
            (through,),
        )
        rows = [(int(log_id), bytes(datums)) for log_id, datums in result.cursor.fetchall()]
        result.close()
        return rows

    def forget_pending(self, log_ids: Sequence[int]) -> None:
        # By id, not by range: on PostgreSQL a lower id may commit after this fold read the log.
        for part in _chunks(list(log_ids)):
            self.session.connection().exec_driver_sql(
                f"DELETE FROM {MetricIngestLog.__tablename__} "
                f"WHERE id IN ({self._marks(len(part))})",
                tuple(part),
            )

    # --- rollups ---

    def rollups_in(
        self, metric_ids: Sequence[int], spans: dict[int, tuple[int, int]], *, for_update: bool
    ) -> dict[RollupKey, Aggregate]:
        """Stored buckets of the metrics within [low, high] of each resolution, in one query.

        Locked in key order on PostgreSQL, so concurrent batches queue instead of deadlocking.
        """
        mark = self._mark
        window = " OR ".join(
            f"(resolution = {mark} AND bucket >= {mark} AND bucket <= {mark})" for _ in spans
        )
        bounds = [
            x for resolution, (low, high) in sorted(spans.items()) for x in (resolution, low, high)
        ]
        lock = " FOR UPDATE" if for_update and self._locks else ""
        found: dict[RollupKey, Aggregate] = {}
        for part in _chunks(list(metric_ids)):
            result = self.session.connection().exec_driver_sql(
                f"SELECT {_ROLLUP_SQL} FROM {MetricRollup.__tablename__} "
                f"WHERE metric_id IN ({self._marks(len(part))}) AND ({window}) "
                f"ORDER BY metric_id, resolution, bucket{lock}",
                (*part, *bounds),
            )
            # The driver's rows as they are: no result-row wrapper per bucket.
            rows = result.cursor.fetchall()
            result.close()
            for row in rows:
                found[(row[0], row[1], row[2])] = Aggregate(row[3], row[4], row[5], row[6], row[7])
        return found

    def rollups_for(self, keys: Sequence[RollupKey]) -> dict[RollupKey, Aggregate]:
        """The given buckets, locked (PostgreSQL)."""
        t = MetricRollup
        found: dict[RollupKey, Aggregate] = {}
        for part in _chunks(sorted(keys)):
            query = (
                select(*_ROLLUP_COLUMNS)
                .where(tuple_(t.metric_id, t.resolution, t.bucket).in_(list(part)))
                .order_by(t.metric_id, t.resolution, t.bucket)
            )
            if self._locks:
                query = query.with_for_update()
            for row in self.session.execute(query):
                found[(row[0], row[1], row[2])] = Aggregate(row[3], row[4], row[5], row[6], row[7])
        return found

    def upsert_rollups(
        self, rows: dict[RollupKey, Aggregate], fresh: set[RollupKey]
    ) -> set[RollupKey]:
        """Write merged buckets in bulk; returns the ``fresh`` keys another writer created first.

        ``fresh`` buckets were absent when read. SQLite writers are serialized (BEGIN IMMEDIATE),
        so one upsert writes everything. On PostgreSQL the read rows are locked and overwritten,
        and fresh ones are inserted only if still absent: the caller merges into the others.
        The upsert goes to the driver's executemany as plain tuples: building SQLAlchemy
        parameters row by row cost more than the database did.
        """
        if not rows:
            return set()
        upsert = (
            f"INSERT INTO {MetricRollup.__tablename__} ({_ROLLUP_SQL}) "
            f"VALUES ({self._marks(len(_ROLLUP_COLUMNS))}) "
            "ON CONFLICT (metric_id, resolution, bucket) DO UPDATE SET "
            + ", ".join(f"{name} = excluded.{name}" for name in _ROLLUP_VALUES)
        )
        connection = self.session.connection()
        if not self._locks:
            connection.exec_driver_sql(
                upsert,
                [
                    (k[0], k[1], k[2], a.sample_count, a.sum, a.minimum, a.maximum, a.sketch)
                    for k, a in rows.items()
                ],
            )
            return set()
        known = [
            (k[0], k[1], k[2], a.sample_count, a.sum, a.minimum, a.maximum, a.sketch)
            for k, a in rows.items()
            if k not in fresh
        ]
        if known:
            connection.exec_driver_sql(upsert, known)
        new = [
            {
                "metric_id": k[0],
                "resolution": k[1],
                "bucket": k[2],
                "sample_count": a.sample_count,
                "sum": a.sum,
                "minimum": a.minimum,
                "maximum": a.maximum,
                "sketch": a.sketch,
            }
            for k, a in rows.items()
            if k in fresh
        ]
        t = MetricRollup
        inserted: set[RollupKey] = set()
        for part in _chunks(new):
            result = self.session.execute(
                self._insert(MetricRollup)
                .on_conflict_do_nothing()
                .returning(t.metric_id, t.resolution, t.bucket),
                list(part),
            )
            inserted.update((r[0], r[1], r[2]) for r in result)
        return fresh - inserted

    def series_rollups(
        self,
        metric_ids: Sequence[int],
        resolution: int,
        start: int,
        end: int,
        *,
        sketches: bool,
    ) -> Sequence[Row[Any]]:
        """(metric_id, bucket, count, sum, min, max[, sketch]) in [start, end), oldest first."""
        t = MetricRollup
        columns: list[Any] = [t.metric_id, t.bucket, t.sample_count, t.sum, t.minimum, t.maximum]
        if sketches:
            columns.append(t.sketch)
        rows: list[Row[Any]] = []
        for part in _chunks(list(metric_ids)):
            rows.extend(
                self.session.execute(
                    select(*columns)
                    .where(
                        t.metric_id.in_(part),
                        t.resolution == resolution,
                        t.bucket >= start,
                        t.bucket < end,
                    )
                    .order_by(t.metric_id, t.bucket)
                ).all()
            )
        return rows

    def minute_columns(self, start: int, end: int) -> tuple[np.ndarray, ...]:
        """Every metric's minute buckets in [start, end) as columns: metric id, bucket, count,
        sum, min, max. Alarm evaluation reads the window once for every alarm."""
        result = self.session.connection().exec_driver_sql(
            "SELECT metric_id, bucket, sample_count, sum, minimum, maximum "
            f"FROM {MetricRollup.__tablename__} WHERE resolution = {self._mark} "
            f"AND bucket >= {self._mark} AND bucket < {self._mark}",
            (60, start, end),
        )
        # Straight from the driver's cursor into one array: 100,000 rows are 600,000 values,
        # streamed without a list of row tuples in between.
        rows = cast(Iterable[Sequence[float]], result.cursor)  # sqlite3's and psycopg's iterate
        table = np.fromiter(chain.from_iterable(rows), dtype=np.float64).reshape(-1, 6)
        result.close()
        ids, buckets = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64)
        return ids, buckets, table[:, 2], table[:, 3], table[:, 4], table[:, 5]

    def minute_sketches(
        self, metric_ids: Sequence[int], start: int, end: int
    ) -> list[tuple[int, int, float, bytes | None]]:
        """(metric id, bucket, min, sketch) of these metrics' minute buckets in [start, end)."""
        found: list[tuple[int, int, float, bytes | None]] = []
        for part in _chunks(list(metric_ids)):
            found.extend(
                tuple(row)
                for row in self.session.connection().exec_driver_sql(
                    "SELECT metric_id, bucket, minimum, sketch "
                    f"FROM {MetricRollup.__tablename__} "
                    f"WHERE metric_id IN ({self._marks(len(part))}) AND resolution = {self._mark} "
                    f"AND bucket >= {self._mark} AND bucket < {self._mark}",
                    (*part, 60, start, end),
                )
            )
        return found

    def expire(self, cutoffs: dict[int, int], metrics_before: int) -> int:
        removed = 0
        for resolution, cutoff in cutoffs.items():
            result = self.session.execute(
                delete(MetricRollup).where(
                    MetricRollup.resolution == resolution, MetricRollup.bucket < cutoff
                )
            )
            removed += int(result.rowcount or 0)  # type: ignore[attr-defined]
        gone = select(Metric.id).where(Metric.last_timestamp < metrics_before)
        self.session.execute(delete(MetricRollup).where(MetricRollup.metric_id.in_(gone)))
        self.session.execute(delete(Metric).where(Metric.last_timestamp < metrics_before))
        return removed
