"""Audit trail tables: hash-chained records, the chain head, signed period digests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mlgov.server.db.base import Base, UTCDateTime


class AuditRecord(Base):
    __tablename__ = "audit_records"
    __table_args__ = (
        Index("ix_audit_records_time", "event_time"),
        Index("ix_audit_records_account_time", "account_id", "event_time"),
        Index("ix_audit_records_principal_time", "principal_id", "event_time"),
    )

    # Position in the hash chain; assigned under the chain-head lock, gap-free.
    sequence: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_time: Mapped[datetime] = mapped_column(UTCDateTime)
    event_version: Mapped[str] = mapped_column(String(8))
    event_source: Mapped[str] = mapped_column(String(64))
    event_name: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(160))
    read_only: Mapped[bool] = mapped_column(Boolean)
    principal_type: Mapped[str | None] = mapped_column(String(16))
    principal_id: Mapped[str | None] = mapped_column(String(40))
    principal_name: Mapped[str | None] = mapped_column(String(128))
    principal_account_id: Mapped[str | None] = mapped_column(String(40))
    access_key_id: Mapped[str | None] = mapped_column(String(40))
    account_id: Mapped[str | None] = mapped_column(String(40))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(1024))
    http_method: Mapped[str] = mapped_column(String(8))
    http_path: Mapped[str] = mapped_column(String(2048))
    http_status: Mapped[int] = mapped_column(Integer)
    request_id: Mapped[str] = mapped_column(String(64))
    # Canonical JSON text: the hash covers exactly the stored bytes (as Athena keeps CloudTrail's).
    request_parameters: Mapped[str | None] = mapped_column(Text)
    response_elements: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    previous_hash: Mapped[str] = mapped_column(String(64))
    record_hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """One row: the newest sequence and hash. Locking it serialises appends to the chain."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger)
    record_hash: Mapped[str] = mapped_column(String(64))
    # Record times never go backwards along the chain, so a period's records are one sequence run.
    event_time: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditDigest(Base):
    """A signed seal over one period of records, chained to the previous digest's signature."""

    __tablename__ = "audit_digests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime, unique=True)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    first_sequence: Mapped[int | None] = mapped_column(BigInteger)
    last_sequence: Mapped[int | None] = mapped_column(BigInteger)
    record_count: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(256))
    public_key_fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
