"""API models for datasets, baselines, monitors and monitoring executions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from mlgov.formats.model_quality import ProblemType

Name = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
DatasetName = Annotated[
    str, StringConstraints(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,126}\.(parquet|csv|jsonl|json)$")
]
Attribute = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Plugin = Annotated[str, StringConstraints(min_length=1, max_length=512)]
Offset = Annotated[str, StringConstraints(min_length=2, max_length=32)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BaselineType(StrEnum):
    DATA_QUALITY = "data_quality"
    MODEL_QUALITY = "model_quality"
    BIAS = "bias"


class MonitorType(StrEnum):
    DATA_QUALITY = "data_quality"
    MODEL_QUALITY = "model_quality"
    BIAS = "bias"
    CUSTOM_METRIC = "custom_metric"


class ExecutionStatus(StrEnum):
    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    COMPLETED_WITH_VIOLATIONS = "CompletedWithViolations"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"

    @property
    def finished(self) -> bool:
        return self in FINISHED


FINISHED = frozenset(
    {
        ExecutionStatus.COMPLETED,
        ExecutionStatus.COMPLETED_WITH_VIOLATIONS,
        ExecutionStatus.FAILED,
        ExecutionStatus.STOPPED,
    }
)


class MonitorStatus(StrEnum):
    SCHEDULED = "Scheduled"
    STOPPED = "Stopped"


# --- datasets -------------------------------------------------------------------------------


class Dataset(BaseModel):
    name: str
    path: str = Field(description="Account-relative blob path, usable as a baseline's path.")
    size: int


# --- baselines ------------------------------------------------------------------------------


class BiasSettings(Input):
    label: Attribute
    facet: Attribute
    label_values: list[Any] | None = Field(default=None, max_length=100)
    label_threshold: float | None = None
    facet_values: list[Any] | None = Field(default=None, max_length=100)
    facet_threshold: float | None = None
    predicted_label: Attribute | None = None
    probability_threshold: float | None = None
    group_variable: Attribute | None = None
    methods: list[Attribute] | None = Field(default=None, max_length=30)


class ModelQualitySettings(Input):
    problem_type: ProblemType
    ground_truth_attribute: Attribute = "label"
    inference_attribute: Attribute | None = None
    probability_attribute: Attribute | None = None
    probability_threshold: float = Field(default=0.5, allow_inf_nan=False)
    positive_label: Attribute = "1"


class BaselineCreate(Input):
    name: Name
    type: BaselineType
    dataset: DatasetName | None = Field(default=None, description="An uploaded dataset.")
    path: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = Field(
        default=None,
        description="Or a path in the account's blob area: datasets/..., capture/... or "
        "ground-truth/... (a file, a directory or a glob).",
    )
    model_quality: ModelQualitySettings | None = None
    bias: BiasSettings | None = None
    comparison_threshold: float | None = Field(default=None, gt=0, le=1)
    comparison_method: Annotated[str, StringConstraints(pattern=r"^(Simple|Robust)$")] | None = None

    @model_validator(mode="after")
    def _check(self) -> BaselineCreate:
        if (self.dataset is None) == (self.path is None):
            raise ValueError("give dataset or path")
        if self.type is BaselineType.MODEL_QUALITY and self.model_quality is None:
            raise ValueError("a model_quality baseline needs model_quality settings")
        if self.type is BaselineType.BIAS and self.bias is None:
            raise ValueError("a bias baseline needs bias settings")
        return self


class BaselineImport(Input):
    """Existing SageMaker baseline files, stored unchanged."""

    name: Name
    type: BaselineType = BaselineType.DATA_QUALITY
    statistics: dict[str, Any] | None = None
    constraints: dict[str, Any] | None = None
    analysis: dict[str, Any] | None = Field(default=None, description="Clarify analysis.json.")


class Baseline(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    account_id: str
    name: str
    type: BaselineType
    source: str
    dataset: str | None
    settings: dict[str, Any]
    files: list[str]
    summary: dict[str, Any]
    created_by: str
    created_at: datetime


# --- monitors -------------------------------------------------------------------------------


class MonitorSettings(Input):
    drift_method: (
        Annotated[
            str,
            StringConstraints(
                pattern=r"^(auto|linf_simple|linf_robust|ks|chi_squared|z_test|wasserstein|"
                r"psi|jensen_shannon)$"
            ),
        ]
        | None
    ) = Field(default=None, description="Override the baseline's drift method for every feature.")
    drift_threshold: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    column_names: list[Attribute] | None = Field(
        default=None, max_length=10_000, description="Names of the positional capture columns."
    )
    preprocess_handler: Plugin | None = Field(
        default=None, description="module:function or a .py file with preprocess_handler()."
    )
    model_quality: ModelQualitySettings | None = None
    bias: BiasSettings | None = None
    start_time_offset: Offset | None = Field(
        default=None, description="ISO-8601 offset from the run time, e.g. -P1D (labels lag)."
    )
    end_time_offset: Offset | None = None
    custom_metrics: list[Plugin] = Field(default_factory=list, max_length=20)
    custom_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    custom_thresholds: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='{metric: {"threshold": x, "comparison_operator": "GreaterThanThreshold"}}',
    )
    emit_metrics: bool = True


class MonitorCreate(Input):
    """A monitor watches exactly one source: an ``endpoint`` or a batch ``transform_job``."""

    name: Name
    endpoint: Name | None = Field(
        default=None, description="The endpoint whose captures it checks."
    )
    transform_job: Name | None = Field(
        default=None,
        description="Or the batch transform job whose captures it checks (a job run with "
        "capture on).",
    )
    type: MonitorType = MonitorType.DATA_QUALITY
    baseline: Name | None = None
    settings: MonitorSettings = Field(default_factory=MonitorSettings)
    schedule: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    description: Annotated[str, StringConstraints(max_length=4000)] = ""

    @model_validator(mode="after")
    def _one_source(self) -> MonitorCreate:
        if (self.endpoint is None) == (self.transform_job is None):
            raise ValueError("give endpoint or transform_job (exactly one)")
        return self


class MonitorUpdate(Input):
    baseline: Name | None = None
    settings: MonitorSettings | None = None
    schedule: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = Field(
        default=None, description="A new schedule; 'none' removes it."
    )
    status: MonitorStatus | None = None
    description: Annotated[str, StringConstraints(max_length=4000)] | None = None


class Monitor(BaseModel):
    id: str
    account_id: str
    name: str
    endpoint: str | None
    transform_job: str | None
    type: MonitorType
    baseline: str | None
    settings: dict[str, Any]
    schedule: str | None
    status: MonitorStatus
    next_run_at: datetime | None
    description: str
    created_by: str
    created_at: datetime
    updated_at: datetime


# --- executions -----------------------------------------------------------------------------


class ExecutionStart(Input):
    """Run now over ``[start_time, end_time)``; without them, the window a run now would cover."""

    start_time: AwareDatetime | None = None
    end_time: AwareDatetime | None = None
    run_inline: bool = Field(
        default=False,
        description="Run it in the server right after this call commits instead of on a "
        "worker (small windows, embedded use); the answer still says Pending: read it again.",
    )

    @model_validator(mode="after")
    def _check(self) -> ExecutionStart:
        if (self.start_time is None) != (self.end_time is None):
            raise ValueError("give both start_time and end_time, or neither")
        if (
            self.start_time is not None
            and self.end_time is not None
            and self.end_time <= self.start_time
        ):
            raise ValueError("end_time must be after start_time")
        return self


class Execution(BaseModel):
    id: str
    account_id: str
    monitor: str
    endpoint: str | None
    transform_job: str | None
    type: MonitorType
    status: ExecutionStatus
    trigger: str
    window_start: datetime
    window_end: datetime
    scheduled_at: datetime
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    failure_reason: str | None
    violation_count: int
    reports: list[str]
    summary: dict[str, Any]
    requested_by: str | None
