"""API models for batch transform jobs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

JobName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class JobStatus(StrEnum):
    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"


class TransformInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sha256: Sha256 = Field(description="A dataset uploaded to the account (POST .../artifacts).")
    format: Literal["csv", "parquet", "jsonl"] = "csv"
    csv_header: bool = True


class TransformJobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: JobName
    group: Annotated[str, StringConstraints(min_length=1, max_length=63)]
    version: int = Field(ge=1)
    input: TransformInput
    capture: bool = Field(default=False, description="Capture every record for monitoring.")


class TransformJob(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    account_id: str
    name: str
    model: dict[str, Any]
    input: dict[str, Any]
    capture: bool
    status: JobStatus
    failure_reason: str | None
    records: int
    output_sha256: str | None
    output_size: int | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
