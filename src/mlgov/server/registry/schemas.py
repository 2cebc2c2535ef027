"""API models for the model registry, approvals, promotion, grants and model cards."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

GroupName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
AliasName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z][a-zA-Z0-9_-]{0,63}$")]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Tags = Annotated[
    dict[
        Annotated[str, StringConstraints(max_length=128)],
        Annotated[str, StringConstraints(max_length=256)],
    ],
    Field(max_length=50),
]
Text = Annotated[str, StringConstraints(max_length=4000)]


class ApprovalStatus(StrEnum):
    PENDING = "PendingManualApproval"
    APPROVED = "Approved"
    REJECTED = "Rejected"


class Flavor(StrEnum):
    SKLEARN = "sklearn"
    XGBOOST = "xgboost"
    LIGHTGBM = "lightgbm"
    ONNX = "onnx"
    PYTHON = "python"


class CardStatus(StrEnum):
    DRAFT = "Draft"
    PENDING_REVIEW = "PendingReview"
    APPROVED = "Approved"
    ARCHIVED = "Archived"


class RiskRating(StrEnum):
    HIGH = "High"
    MEDIUM = "Medium"
    LOW = "Low"
    UNKNOWN = "Unknown"


class Comparison(StrEnum):
    GREATER_THAN = "GreaterThanThreshold"
    GREATER_OR_EQUAL = "GreaterThanOrEqualToThreshold"
    LESS_THAN = "LessThanThreshold"
    LESS_OR_EQUAL = "LessThanOrEqualToThreshold"


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- groups ---


class ModelGroupCreate(Input):
    name: GroupName
    description: Text = ""
    tags: Tags = Field(default_factory=dict)


class ModelGroupUpdate(Input):
    description: Text | None = None
    tags: Tags | None = None


class ModelGroup(Output):
    id: str
    account_id: str
    name: str
    description: str
    tags: dict[str, str]
    latest_version: int
    created_by: str
    created_at: datetime


# --- artifacts and versions ---


class Artifact(Output):
    sha256: str
    size: int


class Dataset(Input):
    uri: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    sha256: Sha256 | None = None


class CodeReference(Input):
    repository: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    commit: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class Lineage(Input):
    datasets: Annotated[list[Dataset], Field(max_length=100)] = Field(default_factory=list)
    code: CodeReference | None = None
    training_job: Annotated[str, StringConstraints(max_length=256)] | None = None
    pipeline_execution: Annotated[str, StringConstraints(max_length=256)] | None = None
    triggered_by_event: Annotated[str, StringConstraints(max_length=256)] | None = None


class Signature(Input):
    inputs: Annotated[list[dict[str, Any]], Field(max_length=10_000)] = Field(default_factory=list)
    outputs: Annotated[list[dict[str, Any]], Field(max_length=10_000)] = Field(default_factory=list)


class ModelVersionCreate(Input):
    artifact_sha256: Sha256 = Field(description="An artifact this account uploaded.")
    flavor: Flavor
    description: Text = ""
    signature: Signature = Field(default_factory=Signature)
    metrics: Annotated[dict[str, float], Field(max_length=500)] = Field(default_factory=dict)
    parameters: Annotated[dict[str, Any], Field(max_length=500)] = Field(default_factory=dict)
    tags: Tags = Field(default_factory=dict)
    lineage: Lineage = Field(default_factory=Lineage)
    parent_version: int | None = Field(default=None, ge=1, description="A version in this group.")


class ModelVersionUpdate(Input):
    description: Text | None = None
    tags: Tags | None = None


class ModelVersion(Output):
    id: str
    account_id: str
    group: str
    version: int
    description: str
    flavor: str
    signature: dict[str, Any]
    metrics: dict[str, float]
    parameters: dict[str, Any]
    tags: dict[str, str]
    lineage: dict[str, Any]
    artifact: Artifact
    parent_version_id: str | None
    promoted_from: dict[str, Any] | None
    approval_status: ApprovalStatus
    aliases: list[str]
    created_by: str
    created_at: datetime
    updated_at: datetime


class Decision(Input):
    comment: Text = ""
    if_status: ApprovalStatus | None = Field(
        default=None, description="Decide only if the version still has this status."
    )


class ApprovalRecord(Output):
    id: str
    version_id: str
    previous_status: ApprovalStatus
    status: ApprovalStatus
    reviewer_id: str
    reviewer_name: str
    comment: str
    decided_at: datetime


class AliasSet(Input):
    version: int = Field(ge=1)


class Alias(Output):
    name: str
    version: int
    version_id: str
    updated_by: str
    updated_at: datetime


class Promotion(Input):
    target_account: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    target_group: GroupName | None = Field(default=None, description="Default: the same name.")
    comment: Text = ""


# --- grants and settings ---


class GrantPermission(StrEnum):
    READ = "read"
    PUBLISH = "publish"


class GrantSet(Input):
    permissions: Annotated[list[GrantPermission], Field(min_length=1, max_length=2)]


class Grant(Output):
    grantee_account_id: str
    permissions: list[GrantPermission]


class SharedGroup(Output):
    group: ModelGroup
    permissions: list[GrantPermission]


class MetricRequirement(Input):
    metric: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    comparison: Comparison
    threshold: float


class PromotionRequirements(Input):
    require_approved_card: bool = False
    metrics: Annotated[list[MetricRequirement], Field(max_length=50)] = Field(default_factory=list)


class RegistrySettings(Input):
    four_eyes: bool = Field(default=True, description="Nobody may decide on a version they made.")
    protected_aliases: Annotated[
        dict[AliasName, Annotated[list[str], Field(min_length=1)]], Field(max_length=50)
    ] = Field(default_factory=dict, description="alias -> roles allowed to move or delete it")
    promotion_requirements: PromotionRequirements = Field(default_factory=PromotionRequirements)


# --- model cards ---


class CardWrite(Input):
    content: Annotated[dict[str, Any], Field(description="Sections of the SageMaker card schema")]
    risk_rating: RiskRating | None = None


class CardStatusChange(Input):
    status: CardStatus


class CardImport(Input):
    card: dict[str, Any] = Field(description="A SageMaker model card content JSON document")


class Card(Output):
    id: str
    version_id: str
    status: CardStatus
    risk_rating: RiskRating
    revision: int
    content: dict[str, Any]
    created_by: str
    updated_at: datetime


class CardRevision(Output):
    revision: int
    status: CardStatus
    risk_rating: RiskRating
    content: dict[str, Any]
    created_by: str
    created_at: datetime


ExportFormat = Literal["markdown", "html", "json"]


class VersionSearch(BaseModel):
    group: str | None = None
    approval_status: ApprovalStatus | None = None
    tag: str | None = None
    alias: str | None = None
    created_after: AwareDatetime | None = None
    created_before: AwareDatetime | None = None
