"""API models for buses, PutEvents, rules, targets, dead letters, archives and replays."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")]
TargetId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._\-]{1,64}$")]
Text = Annotated[str, StringConstraints(max_length=512)]
MAX_ENTRIES = 10
MAX_TARGETS = 5


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- buses ---


class EventBusCreate(Input):
    name: Name
    description: Text = ""


class EventBus(Output):
    id: str
    account_id: str
    name: str
    description: str
    created_at: datetime


class PermissionPut(Input):
    """Lets rules of the grantee account target this bus."""


class Permission(Output):
    grantee_account_id: str
    created_by: str
    created_at: datetime


# --- PutEvents ---


class EventEntry(Input):
    source: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    detail_type: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    detail: dict[str, Any] = Field(default_factory=dict)
    resources: Annotated[
        list[Annotated[str, StringConstraints(max_length=2048)]], Field(max_length=50)
    ] = Field(default_factory=list)
    time: AwareDatetime | None = None
    event_bus: Name | None = Field(default=None, description="The account's default bus if absent.")


class PutEventsRequest(Input):
    entries: Annotated[list[EventEntry], Field(min_length=1, max_length=MAX_ENTRIES)]


class PutEventsResultEntry(BaseModel):
    event_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None


class PutEventsResponse(BaseModel):
    failed_entry_count: int
    entries: list[PutEventsResultEntry]


class TestPatternRequest(Input):
    event_pattern: dict[str, Any]
    event: dict[str, Any]


class TestPatternResponse(BaseModel):
    result: bool


# --- rules ---


class RuleState(StrEnum):
    ENABLED = "ENABLED"
    DISABLED = "DISABLED"


class RulePut(Input):
    event_pattern: dict[str, Any]
    state: RuleState = RuleState.ENABLED
    description: Text = ""


class Rule(Output):
    id: str
    arn: str = Field(description="mlgov:events:<account>:rule/<bus>/<rule>; alarm actions name it.")
    account_id: str
    event_bus: str
    name: str
    description: str
    event_pattern: dict[str, Any]
    state: RuleState
    created_by: str
    created_at: datetime
    updated_at: datetime


# --- targets ---


class TargetType(StrEnum):
    WEBHOOK = "webhook"
    SLACK = "slack"
    EMAIL = "email"
    EVENT_BUS = "event-bus"
    INTERNAL = "internal"


class RetryPolicy(Input):
    maximum_retry_attempts: int = Field(default=185, ge=0, le=185)
    maximum_event_age_seconds: int = Field(default=86400, ge=60, le=86400)


class InputTransformer(Input):
    input_paths_map: dict[str, str] = Field(default_factory=dict)
    input_template: Annotated[str, StringConstraints(min_length=1, max_length=8192)]


class TargetPut(Input):
    id: TargetId
    type: TargetType
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="webhook/slack: url, timeout_seconds, headers; email: to, subject; "
        "event-bus: account, event_bus; internal: handler.",
    )
    secret: Annotated[str, StringConstraints(min_length=16, max_length=256)] | None = Field(
        default=None,
        description="Webhook signing key; generated and shown once when absent. Never returned.",
    )
    input: Any = None
    input_path: str | None = None
    input_transformer: InputTransformer | None = None
    retry_policy: RetryPolicy = Field(default_factory=RetryPolicy)


class TargetsPut(Input):
    targets: Annotated[list[TargetPut], Field(min_length=1, max_length=MAX_TARGETS)]


class Target(BaseModel):
    id: str
    type: TargetType
    config: dict[str, Any]
    input: Any = None
    input_path: str | None = None
    input_transformer: InputTransformer | None = None
    retry_policy: RetryPolicy
    has_secret: bool
    created_at: datetime
    # Only in the PutTargets answer, and only when mlgov generated the key.
    secret: str | None = None


# --- deliveries and the dead-letter store ---


class DeadLetter(BaseModel):
    id: str
    event_id: str
    rule: str
    target: str
    replay_name: str | None
    error_code: str | None
    error_message: str | None
    exhausted_retry_condition: str | None
    retry_attempts: int
    event: dict[str, Any]
    failed_at: datetime | None


class Redrive(Input):
    ids: Annotated[list[str], Field(max_length=1000)] | None = Field(
        default=None, description="Dead letters to redrive; all of the account's when absent."
    )
    rule: Name | None = None


class RedriveResult(BaseModel):
    redriven: int


# --- archives and replays ---


class ArchiveCreate(Input):
    name: Name
    event_bus: Name = "default"
    event_pattern: dict[str, Any] | None = None
    retention_days: int | None = Field(default=None, ge=1, le=36500)
    description: Text = ""


class Archive(BaseModel):
    id: str
    name: str
    event_bus: str
    event_pattern: dict[str, Any] | None
    retention_days: int | None
    description: str
    event_count: int
    created_at: datetime


class ReplayState(StrEnum):
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class ReplayStart(Input):
    name: Name
    archive: Name
    event_start_time: AwareDatetime
    event_end_time: AwareDatetime
    rules: Annotated[list[Name], Field(max_length=100)] | None = Field(
        default=None, description="Only these rules of the bus; every rule when absent."
    )


class Replay(BaseModel):
    id: str
    name: str
    archive: str
    event_start_time: datetime
    event_end_time: datetime
    rules: list[str] | None
    state: ReplayState
    events_replayed: int
    event_last_replayed_time: datetime | None
    created_at: datetime
    finished_at: datetime | None
