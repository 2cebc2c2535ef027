"""API models for alarms: PutMetricAlarm, PutCompositeAlarm, SetAlarmState, history."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from mlgov.server.alarms.evaluation import ComparisonOperator, State, TreatMissingData
from mlgov.server.metrics.schemas import Dimension, MetricName, Namespace, Statistic, Unit

AlarmName = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r'^[^\x00-\x1f\x7f/"]+$')
]
# An action names an event rule by ARN, ``mlgov:events:<account>:rule/<bus>/<rule>``; the
# rule's targets get the alarm's state change (checked in the service against existing rules).
ActionRef = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
Actions = Annotated[list[ActionRef], Field(max_length=5)]
Text = Annotated[str, StringConstraints(max_length=1024)]


# CloudWatch's operators for alarms on an anomaly detection band: mlgov has no anomaly model.
ANOMALY_BAND_OPERATORS = (
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
)


class AlarmKind(StrEnum):
    METRIC = "metric"
    COMPOSITE = "composite"


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class AlarmActions(Input):
    actions_enabled: bool = True
    alarm_actions: Actions = Field(default_factory=list)
    ok_actions: Actions = Field(default_factory=list)
    insufficient_data_actions: Actions = Field(default_factory=list)


class MetricAlarmPut(AlarmActions):
    """Exactly one of ``statistic`` and ``extended_statistic`` (``p99``, ``p99.9``...)."""

    description: Text = ""
    namespace: Namespace
    metric_name: MetricName
    dimensions: Annotated[list[Dimension], Field(max_length=30)] = Field(default_factory=list)
    unit: Unit | None = None
    statistic: Statistic | None = None
    extended_statistic: Annotated[str, StringConstraints(max_length=24)] | None = None
    period: Annotated[int, Field(ge=60, description="Seconds; a multiple of 60.")]
    evaluation_periods: Annotated[int, Field(ge=1)]
    datapoints_to_alarm: Annotated[int, Field(ge=1)] | None = None
    threshold: Annotated[float, Field(allow_inf_nan=False)]
    comparison_operator: ComparisonOperator
    treat_missing_data: TreatMissingData = TreatMissingData.MISSING

    @field_validator("comparison_operator", mode="before")
    @classmethod
    def _no_anomaly_band(cls, value: Any) -> Any:
        if value in ANOMALY_BAND_OPERATORS:
            raise ValueError(
                f"{value} compares with an anomaly detection band, which mlgov does not "
                "support (it has no anomaly detection model); use "
                + ", ".join(o.value for o in ComparisonOperator)
                + " with a static threshold"
            )
        return value


class CompositeAlarmPut(AlarmActions):
    description: Text = ""
    alarm_rule: Annotated[str, StringConstraints(min_length=1, max_length=10_240)]


class SetAlarmState(Input):
    state_value: State
    state_reason: Annotated[str, StringConstraints(min_length=1, max_length=1023)]
    state_reason_data: Annotated[str, StringConstraints(max_length=4000)] | None = Field(
        default=None, description="A JSON document, as a string."
    )


class Alarm(Output):
    name: str
    arn: str
    kind: AlarmKind
    account_id: str
    description: str
    namespace: str | None = None
    metric_name: str | None = None
    dimensions: list[Dimension] | None = None
    unit: str | None = None
    statistic: str | None = None
    extended_statistic: str | None = None
    period: int | None = None
    evaluation_periods: int | None = None
    datapoints_to_alarm: int | None = None
    threshold: float | None = None
    comparison_operator: str | None = None
    treat_missing_data: str | None = None
    alarm_rule: str | None = None
    actions_enabled: bool
    alarm_actions: list[str]
    ok_actions: list[str]
    insufficient_data_actions: list[str]
    state_value: State
    state_reason: str
    state_reason_data: str | None = None
    state_updated_at: datetime
    created_at: datetime
    updated_at: datetime


class HistoryItem(Output):
    id: str
    alarm_name: str
    item_type: str
    summary: str
    data: dict[str, Any]
    timestamp: datetime
