"""API models for metrics: PutMetricData, GetMetricStatistics and ListMetrics shapes."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

MAX_DATUMS = 1000
MAX_DIMENSIONS = 30
MAX_VALUES = 150
LARGEST_VALUE = 2.0**360

Namespace = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=255,
        pattern=r"^[0-9A-Za-z.\-_/#: ]*[0-9A-Za-z.\-_/#:][0-9A-Za-z.\-_/#: ]*$",
    ),
]
MetricName = Annotated[str, StringConstraints(min_length=1, max_length=255)]
DimensionName = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^:\x00-\x1f][^\x00-\x1f]*$")
]
DimensionValue = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
Value = Annotated[float, Field(allow_inf_nan=False)]
PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,10})?|100(\.0{1,10})?)$")


class Unit(StrEnum):
    SECONDS = "Seconds"
    MICROSECONDS = "Microseconds"
    MILLISECONDS = "Milliseconds"
    BYTES = "Bytes"
    KILOBYTES = "Kilobytes"
    MEGABYTES = "Megabytes"
    GIGABYTES = "Gigabytes"
    TERABYTES = "Terabytes"
    BITS = "Bits"
    KILOBITS = "Kilobits"
    MEGABITS = "Megabits"
    GIGABITS = "Gigabits"
    TERABITS = "Terabits"
    PERCENT = "Percent"
    COUNT = "Count"
    BYTES_PER_SECOND = "Bytes/Second"
    KILOBYTES_PER_SECOND = "Kilobytes/Second"
    MEGABYTES_PER_SECOND = "Megabytes/Second"
    GIGABYTES_PER_SECOND = "Gigabytes/Second"
    TERABYTES_PER_SECOND = "Terabytes/Second"
    BITS_PER_SECOND = "Bits/Second"
    KILOBITS_PER_SECOND = "Kilobits/Second"
    MEGABITS_PER_SECOND = "Megabits/Second"
    GIGABITS_PER_SECOND = "Gigabits/Second"
    TERABITS_PER_SECOND = "Terabits/Second"
    COUNT_PER_SECOND = "Count/Second"
    NONE = "None"


class Statistic(StrEnum):
    SAMPLE_COUNT = "SampleCount"
    SUM = "Sum"
    AVERAGE = "Average"
    MINIMUM = "Minimum"
    MAXIMUM = "Maximum"


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Dimension(Input):
    name: DimensionName
    value: DimensionValue


class StatisticSet(Input):
    sample_count: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    sum: Value
    minimum: Value
    maximum: Value


class MetricDatum(Input):
    """Exactly one of ``value``, ``values`` (with optional ``counts``) or ``statistic_values``."""

    metric_name: MetricName
    dimensions: Annotated[list[Dimension], Field(max_length=MAX_DIMENSIONS)] = Field(
        default_factory=list
    )
    timestamp: AwareDatetime | None = None
    value: Value | None = None
    values: Annotated[list[Value], Field(max_length=MAX_VALUES)] | None = None
    counts: Annotated[list[Annotated[Value, Field(gt=0)]], Field(max_length=MAX_VALUES)] | None = (
        None
    )
    statistic_values: StatisticSet | None = None
    unit: Unit = Unit.NONE
    storage_resolution: Annotated[int, Field(description="1 or 60; stored at 60 s.")] = 60


class PutMetricData(Input):
    namespace: Namespace
    metric_data: Annotated[list[MetricDatum], Field(min_length=1, max_length=MAX_DATUMS)]


class PutMetricDataResult(Output):
    accepted: int
    metrics: int = Field(description="Distinct metrics the datapoints went to.")


class StatisticsQuery(Input):
    namespace: Namespace
    metric_name: MetricName
    dimensions: Annotated[list[Dimension], Field(max_length=MAX_DIMENSIONS)] = Field(
        default_factory=list
    )
    start_time: AwareDatetime
    end_time: AwareDatetime
    period: Annotated[int, Field(ge=60, le=86_400, description="Seconds; a multiple of 60.")]
    statistics: list[Statistic] = Field(default_factory=list, max_length=5)
    extended_statistics: list[
        Annotated[str, StringConstraints(pattern=r"^p\d{1,3}(\.\d{1,10})?$")]
    ] = Field(default_factory=list, max_length=10)
    unit: Unit | None = None


class Datapoint(Output):
    timestamp: AwareDatetime
    unit: str
    sample_count: float | None = None
    sum: float | None = None
    average: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    extended_statistics: dict[str, float | None] | None = None


class Statistics(Output):
    label: str
    datapoints: list[Datapoint]


class MetricOut(Output):
    namespace: str
    metric_name: str
    dimensions: list[Dimension]
    unit: str
    last_timestamp: AwareDatetime


QueryId = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][A-Za-z0-9_]{0,254}$"),
    Field(description="Starts with a lowercase letter; expressions refer to queries by id."),
]
MAX_DATA_QUERIES = 100


class MetricStat(Input):
    namespace: Namespace
    metric_name: MetricName
    dimensions: Annotated[list[Dimension], Field(max_length=MAX_DIMENSIONS)] = Field(
        default_factory=list
    )
    period: Annotated[int, Field(ge=60, le=86_400, description="Seconds; a multiple of 60.")]
    stat: Annotated[
        str,
        StringConstraints(
            pattern=r"^(SampleCount|Sum|Average|Minimum|Maximum|p\d{1,3}(\.\d{1,10})?)$"
        ),
    ]
    unit: Unit | None = None


class MetricDataQuery(Input):
    """One series to fetch (``metric_stat``) or compute (``expression``), as in GetMetricData."""

    id: QueryId
    metric_stat: MetricStat | None = None
    expression: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = None
    label: Annotated[str, StringConstraints(max_length=255)] | None = None
    return_data: bool = True

    @model_validator(mode="after")
    def _one_source(self) -> MetricDataQuery:
        if (self.metric_stat is None) == (self.expression is None):
            raise ValueError("give exactly one of metric_stat or expression")
        return self


class MetricDataRequest(Input):
    queries: Annotated[list[MetricDataQuery], Field(min_length=1, max_length=MAX_DATA_QUERIES)]
    start_time: AwareDatetime
    end_time: AwareDatetime


class MetricDataResult(Output):
    id: str
    label: str
    timestamps: list[AwareDatetime]
    values: list[float]


class MetricData(Output):
    results: list[MetricDataResult]
