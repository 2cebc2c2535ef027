"""Training jobs: a user entrypoint run in a subprocess whose model becomes a registry version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mlgov.server.db.base import Base, JSONDocument, UTCDateTime, utc_now


class TrainingJob(Base):
    __tablename__ = "training_jobs"
    __table_args__ = (
        UniqueConstraint("account_id", "name"),
        # One job per (rule, event): an event delivered twice starts one job.
        UniqueConstraint("account_id", "trigger_key"),
        Index("ix_training_jobs_status_created", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(63))
    status: Mapped[str] = mapped_column(String(16))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    # {"command": [...]} or {"function": "module:function"}, plus {"python_path": [...]}
    entrypoint: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    # {"artifact_sha256" | "uri", "filename"}; resolved to {uri, sha256} in ``datasets``
    training_data: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    evaluation_data: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    environment: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    model_group: Mapped[str] = mapped_column(String(63))
    flavor: Mapped[str] = mapped_column(String(32))
    model_file: Mapped[str | None] = mapped_column(String(255))
    # {"label": ..., "problem_type": ..., "alias": "champion"}
    comparison_config: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    timeout_seconds: Mapped[int] = mapped_column(Integer)
    triggered_by_event: Mapped[str | None] = mapped_column(String(64))
    trigger_key: Mapped[str | None] = mapped_column(String(160))
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # A runner holds the job while the lease is in the future; past it the runner is gone.
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    datasets: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    model_version: Mapped[int | None] = mapped_column(Integer)
    stdout_sha256: Mapped[str | None] = mapped_column(String(64))
    stderr_sha256: Mapped[str | None] = mapped_column(String(64))
    # Pending, Completed, Skipped or Failed; the report itself is a blob.
    comparison_status: Mapped[str] = mapped_column(String(16))
    comparison_sha256: Mapped[str | None] = mapped_column(String(64))
    comparison_summary: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    # Optimistic lock: a stop request and the runner's outcome cannot overwrite each other.
    revision: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": revision}
