"""Metrics: put datapoints (PutMetricData shape), read statistics, list metrics."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from mlgov.sdk._http import Json, Transport

MAX_BATCH = 1000


def wire_dimensions(dims: Mapping[str, str] | Sequence[Mapping[str, str]] | None) -> list[Json]:
    """``{"Model": "fraud"}`` or ``[{"name": "Model", "value": "fraud"}]`` -> the wire list."""
    if not dims:
        return []
    if isinstance(dims, Mapping):
        return [{"name": k, "value": v} for k, v in dims.items()]
    return [dict(d) for d in dims]


def datum(
    metric_name: str,
    value: float | None = None,
    *,
    dimensions: Mapping[str, str] | Sequence[Mapping[str, str]] | None = None,
    timestamp: datetime | None = None,
    unit: str | None = None,
    values: Sequence[float] | None = None,
    counts: Sequence[float] | None = None,
    statistic_values: Mapping[str, float] | None = None,
) -> Json:
    """One MetricDatum: a ``value``, ``values`` (+ ``counts``) or ``statistic_values``."""
    item: Json = {"metric_name": metric_name, "dimensions": wire_dimensions(dimensions)}
    if value is not None:
        item["value"] = value
    if values is not None:
        item["values"] = list(values)
    if counts is not None:
        item["counts"] = list(counts)
    if statistic_values is not None:
        item["statistic_values"] = dict(statistic_values)
    if timestamp is not None:
        item["timestamp"] = timestamp.isoformat()
    if unit is not None:
        item["unit"] = unit
    return item


class MetricsApi:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def put(self, account: str, namespace: str, metric_data: Sequence[Json]) -> Json:
        """Send datapoints (see :func:`datum`), in batches of up to 1,000; returns the totals."""
        accepted = metrics = 0
        for start in range(0, len(metric_data), MAX_BATCH):
            result = self._t.request(
                "POST",
                f"/accounts/{account}/metrics",
                json={
                    "namespace": namespace,
                    "metric_data": list(metric_data[start : start + MAX_BATCH]),
                },
            )
            accepted += result["accepted"]
            metrics += result["metrics"]
        return {"accepted": accepted, "metrics": metrics}

    def put_value(
        self,
        account: str,
        namespace: str,
        metric_name: str,
        value: float,
        *,
        dimensions: Mapping[str, str] | None = None,
        unit: str | None = None,
        timestamp: datetime | None = None,
    ) -> Json:
        item = datum(metric_name, value, dimensions=dimensions, unit=unit, timestamp=timestamp)
        return self.put(account, namespace, [item])

    def statistics(
        self,
        account: str,
        namespace: str,
        metric_name: str,
        *,
        start_time: datetime,
        end_time: datetime,
        period: int = 60,
        statistics: Sequence[str] = (),
        extended_statistics: Sequence[str] = (),
        dimensions: Mapping[str, str] | Sequence[Mapping[str, str]] | None = None,
        unit: str | None = None,
    ) -> Json:
        """``{label, datapoints: [{timestamp, unit, average, ..., extended_statistics}]}``."""
        body: dict[str, Any] = {
            "namespace": namespace,
            "metric_name": metric_name,
            "dimensions": wire_dimensions(dimensions),
            "start_time": start_time.isoformat(),
            "end_time": end_time.isoformat(),
            "period": period,
            "statistics": list(statistics),
            "extended_statistics": list(extended_statistics),
        }
        if unit is not None:
            body["unit"] = unit
        result: Json = self._t.request("POST", f"/accounts/{account}/metrics/statistics", json=body)
        return result

    def data(
        self,
        account: str,
        queries: Sequence[Mapping[str, Any]],
        *,
        start_time: datetime,
        end_time: datetime,
    ) -> list[Json]:
        """GetMetricData: ``[{id, label, timestamps, values}]`` for each query that returns data.

        A query is ``{"id": "errors", "metric_stat": {"namespace", "metric_name", "dimensions",
        "period", "stat"}}`` or ``{"id": "rate", "expression": "100 * errors / requests"}``,
        optionally with ``label`` and ``return_data``; :func:`stat_query` builds the first kind.
        """
        body = {
            "queries": [dict(query) for query in queries],
            "start_time": start_time.isoformat(),
            "end_time": end_time.isoformat(),
        }
        result: Json = self._t.request("POST", f"/accounts/{account}/metrics/data", json=body)
        return list(result["results"])

    def list(
        self,
        account: str,
        *,
        namespace: str | None = None,
        metric_name: str | None = None,
        dimensions: Sequence[str] = (),
        page_size: int = 100,
    ) -> Iterator[Json]:
        """Metrics with data in the last two weeks; ``dimensions``: ``NAME`` or ``NAME=VALUE``."""
        params: dict[str, Any] = {
            "namespace": namespace,
            "metric_name": metric_name,
            "dimension": list(dimensions) or None,
        }
        return self._t.paginate(f"/accounts/{account}/metrics", params, page_size=page_size)


def stat_query(
    query_id: str,
    namespace: str,
    metric_name: str,
    stat: str,
    *,
    period: int = 60,
    dimensions: Mapping[str, str] | Sequence[Mapping[str, str]] | None = None,
    unit: str | None = None,
    label: str | None = None,
    return_data: bool = True,
) -> Json:
    """One ``metric_stat`` query for :meth:`MetricsApi.data`."""
    metric_stat: dict[str, Any] = {
        "namespace": namespace,
        "metric_name": metric_name,
        "dimensions": wire_dimensions(dimensions),
        "period": period,
        "stat": stat,
    }
    if unit is not None:
        metric_stat["unit"] = unit
    query: dict[str, Any] = {"id": query_id, "metric_stat": metric_stat, "return_data": return_data}
    if label is not None:
        query["label"] = label
    return query
