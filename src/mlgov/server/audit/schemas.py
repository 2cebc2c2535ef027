"""API models for the audit trail."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from mlgov.formats.audit import AuditEvent


class Outcome(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    FAILED = "failed"


class AuditEventPage(BaseModel):
    items: list[AuditEvent]
    next_page_token: str | None = None


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    max_rows: int = Field(default=1000, ge=1, le=100_000)


class QueryResponse(BaseModel):
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime | None = None
    until: AwareDatetime | None = None


class Problem(BaseModel):
    kind: str
    message: str
    sequence: int | None = None
    digest_id: int | None = None


class VerifyResponse(BaseModel):
    valid: bool
    records_checked: int
    digests_checked: int
    first_sequence: int | None
    last_sequence: int | None
    unsealed_records: int
    first_problem: Problem | None
    problems: list[Problem]


class Digest(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    period_start: datetime
    period_end: datetime
    first_sequence: int | None
    last_sequence: int | None
    record_count: int
    signature: str
    public_key_fingerprint: str
    body: str


class DigestPage(BaseModel):
    items: list[Digest]
    next_page_token: str | None = None


class PublicKey(BaseModel):
    algorithm: str = "Ed25519"
    fingerprint: str
    pem: str
