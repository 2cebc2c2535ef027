"""The transactional outbox: events are rows written with the change that caused them.

A domain service calls :func:`emit` inside its unit of work; if the transaction rolls back the
event never existed, and once it commits a dispatcher (the event bus) reads undelivered rows in
order. This is the contract between the domains that produce events and the bus that routes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text, select
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
    event = Event(
        id=new_uuid(),
        detail_type=detail_type,
        source=source,
        account=account_id,
        time=time or utc_now(),
        resources=resources or [],
        detail=detail,
    )
    session.add(
        OutboxEvent(
            event_id=event.id,
            account_id=account_id,
            source=source,
            detail_type=detail_type,
            event_time=event.time,
            body=canonical_json(event.envelope()),
            bus_name=bus,
        )
    )
    return event


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
