"""API models for tenancy and identity."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Name = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", max_length=128)
]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Labels = Annotated[
    dict[
        Annotated[str, StringConstraints(max_length=128)],
        Annotated[str, StringConstraints(max_length=256)],
    ],
    Field(max_length=50),
]
Description = Annotated[str, StringConstraints(max_length=2000)]


class Environment(StrEnum):
    DEV = "dev"
    TEST = "test"
    STAGING = "staging"
    PROD = "prod"
    SHARED = "shared"
    OBSERVABILITY = "observability"
    AUDIT = "audit"


class PrincipalType(StrEnum):
    USER = "user"
    SERVICE = "service"


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Organization(Output):
    id: str
    name: str
    root_org_unit_id: str
    created_at: datetime


class OrgUnitCreate(Input):
    name: Name
    parent: Ref | None = Field(
        default=None, description="Parent org unit id or name; root if absent."
    )
    description: Description = ""


class OrgUnitUpdate(Input):
    name: Name | None = None
    description: Description | None = None


class OrgUnit(Output):
    id: str
    name: str
    parent_id: str | None
    path: str
    description: str
    created_at: datetime


class AccountCreate(Input):
    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    environment: Environment
    org_unit: Ref | None = Field(default=None, description="Org unit id or name; root if absent.")
    labels: Labels = Field(default_factory=dict)
    description: Description = ""


class AccountUpdate(Input):
    labels: Labels | None = None
    description: Description | None = None
    org_unit: Ref | None = Field(default=None, description="Move the account to this org unit.")


class Account(Output):
    id: str
    name: str
    environment: Environment
    org_unit_id: str
    labels: dict[str, str]
    description: str
    created_at: datetime


class PrincipalCreate(Input):
    name: Name
    type: PrincipalType = PrincipalType.USER
    account: Ref | None = Field(default=None, description="Home account (for service principals).")
    email: Annotated[str, StringConstraints(max_length=320)] | None = None
    description: Description = ""


class PrincipalUpdate(Input):
    disabled: bool | None = None
    email: Annotated[str, StringConstraints(max_length=320)] | None = None
    description: Description | None = None


class Principal(Output):
    id: str
    name: str
    type: PrincipalType
    account_id: str | None
    email: str | None
    description: str
    disabled: bool
    created_at: datetime


class ApiKeyCreate(Input):
    description: Description = ""
    expires_at: datetime | None = Field(default=None, description="UTC expiry; never if absent.")


class ApiKey(Output):
    id: str
    principal_id: str
    description: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    status: str


class ApiKeyCreated(ApiKey):
    secret: str = Field(description="The whole key, shown once: `Authorization: Bearer <secret>`.")


class RoleBindingCreate(Input):
    principal: Ref
    role: Annotated[str, StringConstraints(max_length=64)]


class RoleBinding(Output):
    id: str
    principal_id: str
    role: str
    account_id: str | None
    org_unit_id: str | None
    created_at: datetime


class Role(Output):
    name: str
    description: str
    allow: list[str]
    deny: list[str]


class CallerIdentity(Output):
    principal_id: str
    principal_name: str
    principal_type: str
    account_id: str | None
    api_key_id: str
    organization_id: str
