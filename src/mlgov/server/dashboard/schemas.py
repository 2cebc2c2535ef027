"""The model dashboard: every endpoint with what it serves, how it is watched, how it is doing."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class ServedVersion(BaseModel):
    variant: str
    weight: float
    group: str
    version: int
    approval_status: str | None  # None when the version has since been removed
    aliases: list[str]


class MonitorStatus(BaseModel):
    name: str
    type: str
    schedule: str | None
    last_execution_status: str | None
    last_execution_at: datetime | None
    violations: int


class AlarmStatus(BaseModel):
    name: str
    state: str
    reason: str
    updated_at: datetime


class EndpointRow(BaseModel):
    account_id: str
    account: str
    environment: str
    endpoint: str
    revision: int
    capture: bool
    versions: list[ServedVersion]
    monitors: list[MonitorStatus]
    open_violations: int
    alarms: list[AlarmStatus]
    alarms_in_alarm: int


class Dashboard(BaseModel):
    endpoints: list[EndpointRow]
