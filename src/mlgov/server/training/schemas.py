"""API models for training jobs, their data locations and comparison reports."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from mlgov.formats.model_quality import ProblemType
from mlgov.server.registry.schemas import Flavor, GroupName, Sha256

JobName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
FUNCTION = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
FileName = Annotated[str, StringConstraints(pattern=r"^[\w][\w.-]{0,127}$")]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
# The runner sets these itself; a job may not override them.
RESERVED_ENV_PREFIX = "MLGOV_"
DEFAULT_TIMEOUT_SECONDS = 3600
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600


class JobStatus(StrEnum):
    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPED = "Stopped"


FINISHED = (JobStatus.COMPLETED.value, JobStatus.FAILED.value, JobStatus.STOPPED.value)


class ComparisonStatus(StrEnum):
    PENDING = "Pending"  # the job has not finished
    COMPLETED = "Completed"
    SKIPPED = "Skipped"  # no evaluation data, or the job did not produce a model
    FAILED = "Failed"


class LogStream(StrEnum):
    STDOUT = "stdout"
    STDERR = "stderr"


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataLocation(Input):
    """An uploaded dataset (``POST .../artifacts``), or a path or URI the runner reads."""

    artifact_sha256: Sha256 | None = None
    uri: Annotated[str, StringConstraints(min_length=1, max_length=2048)] | None = None
    filename: FileName | None = Field(
        default=None,
        description="Name of the uploaded dataset's copy in the job's working directory.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> DataLocation:
        if (self.artifact_sha256 is None) == (self.uri is None):
            raise ValueError("give exactly one of artifact_sha256 or uri")
        if self.filename is not None and self.uri is not None:
            raise ValueError("filename applies to an uploaded artifact only")
        return self


class Entrypoint(Input):
    """A command line, or a ``module:function`` called as ``fn(train, eval, model_dir, params)``."""

    command: (
        Annotated[
            list[Annotated[str, StringConstraints(max_length=4096)]],
            Field(min_length=1, max_length=256),
        ]
        | None
    ) = None
    function: Annotated[str, StringConstraints(max_length=256)] | None = None
    python_path: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=2048)]],
        Field(max_length=32),
    ] = Field(default_factory=list, description="Directories put on PYTHONPATH.")

    @model_validator(mode="after")
    def _one_form(self) -> Entrypoint:
        if (self.command is None) == (self.function is None):
            raise ValueError("give exactly one of command or function")
        if self.function is not None and not FUNCTION.match(self.function):
            raise ValueError(f"function {self.function!r} is not module:function")
        return self


class ComparisonConfig(Input):
    label: Annotated[str, StringConstraints(min_length=1, max_length=256)] = "label"
    problem_type: ProblemType | None = Field(
        default=None, description="Inferred from the labels when not given."
    )
    alias: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z][a-zA-Z0-9_-]{0,63}$")] = "champion"


class JobTemplate(Input):
    """Everything a job needs but its name: what an event target starts."""

    entrypoint: Entrypoint
    training_data: DataLocation
    evaluation_data: DataLocation | None = None
    hyperparameters: Annotated[dict[str, Any], Field(max_length=500)] = Field(default_factory=dict)
    environment: Annotated[
        dict[EnvName, Annotated[str, StringConstraints(max_length=4096)]], Field(max_length=100)
    ] = Field(default_factory=dict)
    model_group: GroupName
    flavor: Flavor = Flavor.SKLEARN
    model_file: FileName | None = Field(
        default=None, description="The file in MLGOV_MODEL_DIR; default: the only file there."
    )
    comparison: ComparisonConfig = Field(default_factory=ComparisonConfig)
    timeout_seconds: int = Field(default=DEFAULT_TIMEOUT_SECONDS, ge=1, le=MAX_TIMEOUT_SECONDS)

    @model_validator(mode="after")
    def _own_env(self) -> JobTemplate:
        reserved = sorted(k for k in self.environment if k.startswith(RESERVED_ENV_PREFIX))
        if reserved:
            raise ValueError(f"environment may not set {', '.join(reserved)}: the runner does")
        return self


class TrainingJobCreate(JobTemplate):
    name: JobName


class TrainingJob(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    account_id: str
    name: str
    status: JobStatus
    failure_reason: str | None
    exit_code: int | None
    entrypoint: dict[str, Any]
    training_data: dict[str, Any]
    evaluation_data: dict[str, Any] | None
    hyperparameters: dict[str, Any]
    environment: dict[str, Any]
    model_group: str
    flavor: str
    model_file: str | None
    comparison_config: dict[str, Any]
    timeout_seconds: int
    triggered_by_event: str | None
    stop_requested: bool
    datasets: list[dict[str, Any]]
    metrics: dict[str, Any]
    model_version: int | None
    comparison_status: ComparisonStatus
    comparison_summary: dict[str, Any]
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


class Comparison(BaseModel):
    """The comparison of a job's model with the champion; ``report`` once it is Completed."""

    job: str
    status: ComparisonStatus
    summary: dict[str, Any]
    report_sha256: str | None
    report: dict[str, Any] | None
