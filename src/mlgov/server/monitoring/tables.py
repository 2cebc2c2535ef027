"""Baselines, monitors on endpoints or batch transform jobs, and their executions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from mlgov.server.db.base import Base, JSONDocument, UTCDateTime, utc_now


class Baseline(Base):
    __tablename__ = "monitoring_baselines"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(63))
    type: Mapped[str] = mapped_column(String(32))  # data_quality | model_quality | bias
    source: Mapped[str] = mapped_column(String(16))  # job | import
    dataset: Mapped[str | None] = mapped_column(Text)  # account-relative blob path
    settings: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    # {"statistics.json": sha256, "constraints.json": sha256, ...} in the blob store
    files: Mapped[dict[str, str]] = mapped_column(JSONDocument, default=dict)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class Monitor(Base):
    __tablename__ = "monitors"
    __table_args__ = (
        UniqueConstraint("account_id", "name"),
        Index("ix_monitors_due", "status", "next_run_at"),
        CheckConstraint(
            "(endpoint_name IS NULL) <> (transform_job_name IS NULL)", name="exactly_one_source"
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(63))
    # What it watches: an endpoint's captures, or a batch transform job's (exactly one).
    endpoint_name: Mapped[str | None] = mapped_column(String(63))
    transform_job_name: Mapped[str | None] = mapped_column(String(63))
    type: Mapped[str] = mapped_column(String(32))  # data_quality | model_quality | bias | custom
    baseline_id: Mapped[str | None] = mapped_column(
        ForeignKey("monitoring_baselines.id", ondelete="RESTRICT")
    )
    settings: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    schedule: Mapped[str | None] = mapped_column(String(256))  # cron(...) | rate(...) | None
    status: Mapped[str] = mapped_column(String(16))  # Scheduled | Stopped
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class MonitoringExecution(Base):
    __tablename__ = "monitoring_executions"
    __table_args__ = (
        Index("ix_monitoring_executions_status", "status", "created_at"),
        Index("ix_monitoring_executions_monitor", "monitor_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(40))
    monitor_id: Mapped[str] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(32))
    trigger: Mapped[str] = mapped_column(String(16))  # schedule | manual | event
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An InProgress execution whose lease ran out (its worker died) is claimed again.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    violation_count: Mapped[int] = mapped_column(Integer, default=0)
    reports: Mapped[dict[str, str]] = mapped_column(JSONDocument, default=dict)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    requested_by: Mapped[str | None] = mapped_column(String(256))
