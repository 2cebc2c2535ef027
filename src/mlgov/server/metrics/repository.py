"""Every metrics query. Writes are set-based: one statement per batch, never one per datapoint."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, Table, bindparam, delete, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mlgov.server.metrics.tables import Metric, MetricRollup

# Bound parameters per statement stay well under SQLite's limit (32,766) and PostgreSQL's (65,535).
CHUNK = 500


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

    # --- identity ---

    def metric_ids(
        self, account_id: str, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], int]:
        found: dict[tuple[str, str], int] = {}
        hashes = sorted({h for h, _unit in keys})
        for part in _chunks(hashes):
            rows = self.session.execute(
                select(Metric.series_hash, Metric.unit, Metric.id).where(
                    Metric.account_id == account_id, Metric.series_hash.in_(part)
                )
            )
            for series_hash, unit, metric_id in rows:
                found[(series_hash, unit)] = metric_id
        return found

    def ensure_metrics(
        self, account_id: str, metrics: Sequence[NewMetric], now: int
    ) -> dict[tuple[str, str], int]:
        """Ids of the metrics, creating the missing ones, and each one's newest timestamp."""
        ids = self.metric_ids(account_id, [(m.series_hash, m.unit) for m in metrics])
        missing = [m for m in metrics if (m.series_hash, m.unit) not in ids]
        created = {(m.series_hash, m.unit) for m in missing}
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
            ids.update(self.metric_ids(account_id, [(m.series_hash, m.unit) for m in missing]))
        stale = [
            {"b_id": ids[(m.series_hash, m.unit)], "b_ts": m.last_timestamp}
            for m in metrics
            if (m.series_hash, m.unit) in ids and (m.series_hash, m.unit) not in created
        ]
        table = Metric.__table__
        assert isinstance(table, Table)
        for part in _chunks(stale):
            self.session.connection().execute(
                update(table)
                .where(table.c.id == bindparam("b_id"), table.c.last_timestamp < bindparam("b_ts"))
                .values(last_timestamp=bindparam("b_ts")),
                list(part),
            )
        return ids

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

    # --- rollups ---

    def rollups(
        self, keys: Sequence[RollupKey], *, for_update: bool = False
    ) -> dict[RollupKey, Aggregate]:
        found: dict[RollupKey, Aggregate] = {}
        t = MetricRollup
        for part in _chunks(sorted(keys)):
            query = select(
                t.metric_id,
                t.resolution,
                t.bucket,
                t.sample_count,
                t.sum,
                t.minimum,
                t.maximum,
                t.sketch,
            ).where(tuple_(t.metric_id, t.resolution, t.bucket).in_(list(part)))
            if for_update and self._locks:
                query = query.with_for_update()
            for row in self.session.execute(query):
                found[(row[0], row[1], row[2])] = Aggregate(row[3], row[4], row[5], row[6], row[7])
        return found

    def insert_rollups(self, rows: dict[RollupKey, Aggregate]) -> set[RollupKey]:
        """Insert new buckets; returns the keys a concurrent writer had created meanwhile."""
        if not rows:
            return set()
        params = [
            {
                "metric_id": key[0],
                "resolution": key[1],
                "bucket": key[2],
                "sample_count": agg.sample_count,
                "sum": agg.sum,
                "minimum": agg.minimum,
                "maximum": agg.maximum,
                "sketch": agg.sketch,
            }
            for key, agg in rows.items()
        ]
        if not self._locks:
            self.session.connection().execute(insert(MetricRollup), params)
            return set()
        t = MetricRollup
        inserted: set[RollupKey] = set()
        for part in _chunks(params):
            result = self.session.execute(
                self._insert(MetricRollup)
                .on_conflict_do_nothing()
                .returning(t.metric_id, t.resolution, t.bucket),
                list(part),
            )
            inserted.update((r[0], r[1], r[2]) for r in result)
        return set(rows) - inserted

    def update_rollups(self, rows: dict[RollupKey, Aggregate]) -> None:
        if not rows:
            return
        table = MetricRollup.__table__
        assert isinstance(table, Table)
        self.session.connection().execute(
            update(table)
            .where(
                table.c.metric_id == bindparam("b_metric_id"),
                table.c.resolution == bindparam("b_resolution"),
                table.c.bucket == bindparam("b_bucket"),
            )
            .values(
                sample_count=bindparam("v_sample_count"),
                sum=bindparam("v_sum"),
                minimum=bindparam("v_minimum"),
                maximum=bindparam("v_maximum"),
                sketch=bindparam("v_sketch"),
            ),
            [
                {
                    "b_metric_id": key[0],
                    "b_resolution": key[1],
                    "b_bucket": key[2],
                    "v_sample_count": agg.sample_count,
                    "v_sum": agg.sum,
                    "v_minimum": agg.minimum,
                    "v_maximum": agg.maximum,
                    "v_sketch": agg.sketch,
                }
                for key, agg in rows.items()
            ],
        )

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

    def window(
        self, resolution: int, start: int, end: int, *, sketches_for: Sequence[int] = ()
    ) -> tuple[Sequence[Row[Any]], Sequence[Row[Any]]]:
        """Every metric's buckets in [start, end): scalars for all, sketches for a few metrics."""
        t = MetricRollup
        scalars = self.session.execute(
            select(t.metric_id, t.bucket, t.sample_count, t.sum, t.minimum, t.maximum).where(
                t.resolution == resolution, t.bucket >= start, t.bucket < end
            )
        ).all()
        sketches: list[Row[Any]] = []
        for part in _chunks(list(sketches_for)):
            sketches.extend(
                self.session.execute(
                    select(t.metric_id, t.bucket, t.sketch).where(
                        t.metric_id.in_(part),
                        t.resolution == resolution,
                        t.bucket >= start,
                        t.bucket < end,
                    )
                ).all()
            )
        return scalars, sketches

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
