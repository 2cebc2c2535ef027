"""Event bus tables: buses and their permissions, rules, targets, deliveries, archives, replays."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from mlgov.server.db.base import Base, JSONDocument, UTCDateTime, utc_now

DEFAULT_BUS = "default"


class EventBus(Base):
    __tablename__ = "event_buses"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class EventBusPermission(Base):
    """The bus's owner lets rules of another account send events to it."""

    __tablename__ = "event_bus_permissions"
    __table_args__ = (UniqueConstraint("bus_id", "grantee_account_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    bus_id: Mapped[str] = mapped_column(ForeignKey("event_buses.id", ondelete="CASCADE"))
    grantee_account_id: Mapped[str] = mapped_column(String(40), index=True)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class EventRule(Base):
    __tablename__ = "event_rules"
    __table_args__ = (UniqueConstraint("bus_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(40), index=True)
    bus_id: Mapped[str] = mapped_column(ForeignKey("event_buses.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    event_pattern: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    state: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class EventTarget(Base):
    __tablename__ = "event_targets"
    __table_args__ = (UniqueConstraint("rule_id", "target_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    rule_id: Mapped[str] = mapped_column(ForeignKey("event_rules.id", ondelete="CASCADE"))
    target_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    # The webhook signing key: needed in clear to sign, so kept as given and never returned.
    secret: Mapped[str | None] = mapped_column(Text)
    input: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    max_retry_attempts: Mapped[int] = mapped_column(Integer)
    max_event_age_seconds: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class EventDelivery(Base):
    """One event for one target: claimed, sent after commit, retried, or dead-lettered."""

    __tablename__ = "event_deliveries"
    __table_args__ = (
        Index("ix_event_deliveries_due", "status", "next_attempt_at"),
        Index("ix_event_deliveries_account_status", "account_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(36), index=True)
    event_time: Mapped[datetime] = mapped_column(UTCDateTime)
    body: Mapped[str] = mapped_column(Text)
    rule_id: Mapped[str] = mapped_column(String(40))
    rule_name: Mapped[str] = mapped_column(String(64))
    target_row_id: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(64))
    replay_name: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    exhausted_condition: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EventArchive(Base):
    __tablename__ = "event_archives"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(40))
    bus_id: Mapped[str] = mapped_column(ForeignKey("event_buses.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    event_pattern: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    retention_days: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class ArchivedEvent(Base):
    __tablename__ = "archived_events"
    __table_args__ = (Index("ix_archived_events_archive_time", "archive_id", "event_time"),)

    position: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    archive_id: Mapped[str] = mapped_column(ForeignKey("event_archives.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(36))
    event_time: Mapped[datetime] = mapped_column(UTCDateTime)
    body: Mapped[str] = mapped_column(Text)
    archived_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class EventReplay(Base):
    __tablename__ = "event_replays"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(64))
    archive_id: Mapped[str] = mapped_column(ForeignKey("event_archives.id", ondelete="CASCADE"))
    event_start_time: Mapped[datetime] = mapped_column(UTCDateTime)
    event_end_time: Mapped[datetime] = mapped_column(UTCDateTime)
    rule_names: Mapped[list[str] | None] = mapped_column(JSONDocument)
    state: Mapped[str] = mapped_column(String(16))
    cursor: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    events_replayed: Mapped[int] = mapped_column(Integer, default=0)
    event_last_replayed_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
