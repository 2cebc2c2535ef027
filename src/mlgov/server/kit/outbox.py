"""The transactional outbox: events are rows written with the change that caused them.

A domain service calls :func:`emit` inside its unit of work; if the transaction rolls back the
event never existed, and once it commits a dispatcher (the event bus) reads undelivered rows in
order. This is the contract between the domains that produce events and the bus that routes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from mlgov.formats.events import Event
from mlgov.server.db.base import Base, UTCDateTime, utc_now
from mlgov.server.kit.ids import new_uuid
from mlgov.server.kit.redaction import canonical_json


class OutboxEvent(Base):
    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_pending", "dispatched_at", "position"),)

    position: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    account_id: Mapped[str] = mapped_column(String(40), index=True)
    source: Mapped[str] = mapped_column(String(256))
    detail_type: Mapped[str] = mapped_column(String(256))
    event_time: Mapped[datetime] = mapped_column(UTCDateTime)
    body: Mapped[str] = mapped_column(Text)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The account's bus the event goes to; None is the account's default bus.
    bus_name: Mapped[str | None] = mapped_column(String(64))


@dataclass(frozen=True)
class NewEvent:
    """One event for :func:`emit_many`; the fields are :func:`emit`'s arguments."""

    account_id: str
    source: str
    detail_type: str
    detail: dict[str, Any]
    resources: list[str] | None = None
    time: datetime | None = None
    bus: str | None = None


def _row(new: NewEvent) -> tuple[Event, dict[str, Any]]:
    event = Event(
        id=new_uuid(),
        detail_type=new.detail_type,
        source=new.source,
        account=new.account_id,
        time=new.time or utc_now(),
        resources=new.resources or [],
        detail=new.detail,
    )
    return event, {
        "event_id": event.id,
        "account_id": new.account_id,
        "source": new.source,
        "detail_type": new.detail_type,
        "event_time": event.time,
        "body": canonical_json(event.envelope()),
        "bus_name": new.bus,
    }


def emit(
    session: Session,
    *,
    account_id: str,
    source: str,
    detail_type: str,
    detail: dict[str, Any],
    resources: list[str] | None = None,
    time: datetime | None = None,
    bus: str | None = None,
) -> Event:
    """Write one event into the caller's transaction; it is visible only if that commits."""
    event, row = _row(NewEvent(account_id, source, detail_type, detail, resources, time, bus))
    session.add(OutboxEvent(**row))
    return event


def emit_many(session: Session, events: Sequence[NewEvent]) -> list[Event]:
    """:func:`emit` for many events in one statement: the same rows, in the given order."""
    if not events:
        return []
    built = [_row(new) for new in events]
    session.execute(insert(OutboxEvent), [row for _event, row in built])
    return [event for event, _row in built]


def pending(session: Session, limit: int = 100, *, claim: bool = False) -> list[OutboxEvent]:
    """Undelivered events in commit order.

    With ``claim`` the rows stay locked until the caller's transaction ends and other workers
    skip them (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's write lock serializes anyway).
    """
    query = (
        select(OutboxEvent)
        .where(OutboxEvent.dispatched_at.is_(None))
        .order_by(OutboxEvent.position)
        .limit(limit)
    )
    if claim:
        query = query.with_for_update(skip_locked=True)
    return list(session.execute(query).scalars())
