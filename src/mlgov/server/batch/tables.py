"""Batch transform jobs: a registry version scoring a dataset, every output row with an id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mlgov.server.db.base import Base, JSONDocument, UTCDateTime, utc_now


class TransformJob(Base):
    __tablename__ = "transform_jobs"
    __table_args__ = (
        UniqueConstraint("account_id", "name"),
        Index("ix_transform_jobs_status_created", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(63))
    # The version is pinned when the job is created, as an endpoint's variants are.
    model: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    # {sha256, format, csv_header}
    input: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    capture: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(32))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    records: Mapped[int] = mapped_column(BigInteger, default=0)
    output_sha256: Mapped[str | None] = mapped_column(String(64))
    output_size: Mapped[int | None] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
