"""Bias reports and bias-drift violations in the SageMaker Clarify shapes.

A report is Clarify's ``analysis.json``::

    {"version": "1.0",
     "pre_training_bias_metrics": {
        "label": "<label column>", "label_value_or_threshold": "1",
        "facets": {"<facet column>": [
            {"value_or_threshold": "F",
             "metrics": [{"name": "CI", "description": "Class Imbalance (CI)", "value": 0.2}]}]}},
     "post_training_bias_metrics": {...same shape...}}

A baseline report doubles as the constraints of a bias-drift monitor. A metric that could not be
computed carries ``error`` and a null ``value``; infinities are written as ``"Infinity"`` as
Clarify does. ``confidence_interval`` is an mlgov addition (a bootstrap interval used by the drift
check); it is omitted when absent, so files stay readable by Clarify's parsers.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from mlgov.formats.model_quality import JsonFloat

BIAS_DRIFT_CHECK: Literal["bias_drift_check"] = "bias_drift_check"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def to_json(self, *, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent, exclude_none=True, by_alias=True)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


class BiasMetricResult(_Wire):
    name: str
    description: str
    value: JsonFloat | None = None
    error: str | None = None
    confidence_interval: tuple[JsonFloat, JsonFloat] | None = None

    @model_serializer(mode="wrap")
    def _always_a_value(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Clarify writes a failed metric as "value": null next to its error; keep that key.
        data: dict[str, Any] = handler(self)
        ordered: dict[str, Any] = {k: data.pop(k) for k in ("name", "description") if k in data}
        ordered["value"] = data.pop("value", None)
        return ordered | data


class FacetValueReport(_Wire):
    value_or_threshold: str
    metrics: list[BiasMetricResult]

    def metric(self, name: str) -> BiasMetricResult | None:
        return next((m for m in self.metrics if m.name == name), None)


class BiasStageReport(_Wire):
    label: str
    label_value_or_threshold: str
    facets: dict[str, list[FacetValueReport]]

    def facet_value(self, facet: str, value_or_threshold: str) -> FacetValueReport | None:
        return next(
            (r for r in self.facets.get(facet, []) if r.value_or_threshold == value_or_threshold),
            None,
        )


class BiasAnalysis(_Wire):
    """Clarify's ``analysis.json`` (the bias part); either stage may be absent."""

    version: str = "1.0"
    pre_training_bias_metrics: BiasStageReport | None = None
    post_training_bias_metrics: BiasStageReport | None = None


class BiasViolation(_Wire):
    facet: str
    facet_value: str
    metric_name: str
    constraint_check_type: Literal["bias_drift_check"] = BIAS_DRIFT_CHECK
    description: str


class BiasViolations(_Wire):
    version: str = "1.0"
    violations: list[BiasViolation] = Field(default_factory=list)
