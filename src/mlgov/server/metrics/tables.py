"""Metric tables: one row per metric (its identity) and one per metric, resolution and bucket.

Buckets are epoch seconds (the start of the minute, 5 minutes or hour), not datetimes: ingest and
queries compute them in bulk and compare them as integers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from mlgov.server.db.base import Base, JSONDocument


class Metric(Base):
    """(namespace, name, dimensions, unit) in one account; data of other units is another metric."""

    __tablename__ = "metrics"
    __table_args__ = (
        UniqueConstraint("account_id", "series_hash", "unit"),
        Index("ix_metrics_account_namespace_name", "account_id", "namespace", "name"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    namespace: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    # [{"name": ..., "value": ...}] sorted by name.
    dimensions: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument)
    # SHA-256 of namespace, name and sorted dimensions: the series a query or alarm names.
    series_hash: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_timestamp: Mapped[int] = mapped_column(BigInteger)


class MetricRollup(Base):
    """The aggregate of one metric over one bucket of 60, 300 or 3600 seconds.

    ``sketch`` is a serialized Apache DataSketches KLL sketch of the raw values, so percentiles of
    any period merge sketches rather than averaging percentiles. It is NULL when a statistic set
    that cannot stand for raw values went into the bucket (percentiles are then unavailable, as in
    CloudWatch).
    """

    __tablename__ = "metric_rollups"
    # Alarm evaluation and retention scan one resolution over a time range; alarm evaluation
    # reads the statistics of every metric's recent minutes, from this index alone.
    __table_args__ = (
        Index(
            "ix_metric_rollups_window",
            "resolution",
            "bucket",
            "metric_id",
            "sample_count",
            "sum",
            "minimum",
            "maximum",
        ),
    )

    metric_id: Mapped[int] = mapped_column(
        ForeignKey("metrics.id", ondelete="CASCADE"), primary_key=True
    )
    resolution: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sample_count: Mapped[float] = mapped_column(Float)
    sum: Mapped[float] = mapped_column(Float)
    minimum: Mapped[float] = mapped_column(Float)
    maximum: Mapped[float] = mapped_column(Float)
    sketch: Mapped[bytes | None] = mapped_column(LargeBinary)


class MetricIngestLog(Base):
    """Batches accepted but not yet folded into rollups, one row per PutMetricData call.

    ``datums`` is an Arrow IPC stream of the validated datums (see ``pending.py``). Committing
    it with the call's audit record is what makes an acknowledged batch durable; folding many
    batches at once (``service.fold_pending``) is what makes ingest cheap, and every reader of
    rollups folds first, so nothing waiting here is ever missing from an answer.
    """

    __tablename__ = "metric_ingest_log"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    received_at: Mapped[int] = mapped_column(BigInteger)
    datapoints: Mapped[int] = mapped_column(Integer)
    datums: Mapped[bytes] = mapped_column(LargeBinary)
