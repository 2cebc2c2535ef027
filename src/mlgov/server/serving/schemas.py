"""API models for endpoints, their variants and data capture."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

EndpointName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
VariantName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$")]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VariantSpec(Input):
    name: VariantName | None = Field(default=None, description="Default: the group-version.")
    group: Annotated[str, StringConstraints(min_length=1, max_length=63)]
    version: int = Field(ge=1)
    weight: float = Field(default=1.0, gt=0, le=1_000_000)


class CaptureConfig(Input):
    enabled: bool = False
    sampling_percentage: float = Field(default=100.0, ge=0, le=100)
    capture_input: bool = True
    capture_output: bool = True


def _unique_variants(variants: list[VariantSpec]) -> list[VariantSpec]:
    names = [v.name or f"{v.group}-{v.version}" for v in variants]
    if len(set(names)) != len(names):
        raise ValueError("variant names must be unique")
    return variants


# Transform jobs capture under ``transform-job-<name>`` beside endpoints (batch/service.py).
RESERVED_PREFIX = "transform-job-"


class EndpointCreate(Input):
    name: EndpointName
    description: Annotated[str, StringConstraints(max_length=4000)] = ""
    variants: Annotated[list[VariantSpec], Field(min_length=1, max_length=10)]
    capture: CaptureConfig = Field(default_factory=CaptureConfig)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name.lower().startswith(RESERVED_PREFIX):
            raise ValueError(
                f"endpoint names may not start with {RESERVED_PREFIX!r}: transform jobs capture "
                "their data under that name"
            )
        return name

    @model_validator(mode="after")
    def _check(self) -> EndpointCreate:
        _unique_variants(self.variants)
        return self


class EndpointUpdate(Input):
    description: Annotated[str, StringConstraints(max_length=4000)] | None = None
    variants: Annotated[list[VariantSpec], Field(min_length=1, max_length=10)] | None = None
    capture: CaptureConfig | None = None

    @model_validator(mode="after")
    def _check(self) -> EndpointUpdate:
        if self.variants is not None:
            _unique_variants(self.variants)
        return self


class Variant(BaseModel):
    name: str
    weight: float
    group: str
    version: int
    version_id: str
    flavor: str
    artifact_sha256: str


class Endpoint(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    account_id: str
    name: str
    description: str
    variants: list[Variant]
    capture: CaptureConfig
    revision: int
    created_by: str
    created_at: datetime
    updated_at: datetime


class GroundTruthAccepted(BaseModel):
    records: int
    path: str


class Prediction(BaseModel):
    """Shape of a JSON invocation answer (documentation only: the body is written directly)."""

    predictions: list[Any]
