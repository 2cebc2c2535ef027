"""Alarm tables: metric and composite alarms in one table (names are unique per account across
both kinds, as in CloudWatch), and their history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mlgov.server.db.base import Base, JSONDocument, UTCDateTime, utc_now


class Alarm(Base):
    __tablename__ = "alarms"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # "metric" or "composite"
    description: Mapped[str] = mapped_column(Text, default="")
    # metric alarms
    namespace: Mapped[str | None] = mapped_column(String(255))
    metric_name: Mapped[str | None] = mapped_column(String(255))
    dimensions: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONDocument)
    series_hash: Mapped[str | None] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(32))
    statistic: Mapped[str | None] = mapped_column(String(16))
    extended_statistic: Mapped[str | None] = mapped_column(String(24))
    period: Mapped[int | None] = mapped_column(Integer)
    evaluation_periods: Mapped[int | None] = mapped_column(Integer)
    datapoints_to_alarm: Mapped[int | None] = mapped_column(Integer)
    threshold: Mapped[float | None] = mapped_column(Float)
    comparison_operator: Mapped[str | None] = mapped_column(String(40))
    treat_missing_data: Mapped[str | None] = mapped_column(String(16))
    # composite alarms
    alarm_rule: Mapped[str | None] = mapped_column(Text)
    # actions: opaque target references, routed by the event bus
    actions_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    alarm_actions: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    ok_actions: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    insufficient_data_actions: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    # state
    state_value: Mapped[str] = mapped_column(String(24))
    state_reason: Mapped[str] = mapped_column(Text)
    state_reason_data: Mapped[str | None] = mapped_column(Text)
    state_updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class AlarmHistory(Base):
    """State changes and configuration changes; kept two weeks, also after the alarm is gone."""

    __tablename__ = "alarm_history"
    __table_args__ = (
        Index("ix_alarm_history_account_alarm", "account_id", "alarm_name", "id"),
        Index("ix_alarm_history_timestamp", "timestamp"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(40))
    alarm_name: Mapped[str] = mapped_column(String(255))
    item_type: Mapped[str] = mapped_column(String(32))  # StateUpdate, ConfigurationUpdate
    summary: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
