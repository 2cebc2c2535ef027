"""Audit records on the wire, in a CloudTrail-like shape (eventVersion 1.11 field names)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

EVENT_VERSION = "1.11"


class UserIdentity(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    type: str = Field(description="User, ServicePrincipal or Anonymous")
    principal_id: str | None = Field(default=None, alias="principalId")
    user_name: str | None = Field(default=None, alias="userName")
    account_id: str | None = Field(default=None, alias="accountId")
    access_key_id: str | None = Field(default=None, alias="accessKeyId")


class AuditEvent(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    event_version: str = Field(default=EVENT_VERSION, alias="eventVersion")
    event_id: str = Field(alias="eventID")
    event_time: datetime = Field(alias="eventTime")
    event_source: str = Field(alias="eventSource")
    event_name: str = Field(alias="eventName")
    event_type: str = Field(default="MlgovApiCall", alias="eventType")
    event_category: str = Field(default="Management", alias="eventCategory")
    user_identity: UserIdentity = Field(alias="userIdentity")
    source_ip_address: str | None = Field(default=None, alias="sourceIPAddress")
    user_agent: str | None = Field(default=None, alias="userAgent")
    recipient_account_id: str | None = Field(default=None, alias="recipientAccountId")
    request_parameters: Any = Field(default=None, alias="requestParameters")
    response_elements: Any = Field(default=None, alias="responseElements")
    error_code: str | None = Field(default=None, alias="errorCode")
    error_message: str | None = Field(default=None, alias="errorMessage")
    read_only: bool = Field(alias="readOnly")
    request_id: str = Field(alias="requestID")
    additional_event_data: dict[str, Any] = Field(
        default_factory=dict,
        alias="additionalEventData",
        description="action, httpMethod, path, httpStatus and the record's chain sequence",
    )
