"""GetMetricData: several metric stats in one call, metric math over them, SEARCH; bad queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlgov import Client, InvalidRequest
from mlgov.sdk.metrics import stat_query
from mlgov.server.metrics import service

NS = "mlgov/Endpoints"


@pytest.fixture
def account(admin: Client) -> str:
    admin.identity.create_account("fraud-prod", "prod")
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    data = []
    for minute in range(3):
        at = (start + timedelta(minutes=minute, seconds=5)).isoformat()
        for endpoint, calls, errors in (("churn", 100, minute), ("fraud", 50, 2 * minute)):
            dims = {"EndpointName": endpoint}
            data.append(_datum("Invocations", calls, at, dims))
            data.append(_datum("Invocation5XXErrors", errors, at, dims))
    # Same names, another dimension set: SEARCH on {NS,EndpointName} must leave it out.
    data.append(_datum("Invocations", 1000, start.isoformat(), {"EndpointName": "x", "V": "b"}))
    admin.metrics.put("fraud-prod", NS, data)
    return "fraud-prod"


def _datum(name: str, value: float, at: str, dims: dict[str, str]) -> dict:  # type: ignore[type-arg]
    return {
        "metric_name": name,
        "value": value,
        "timestamp": at,
        "dimensions": [{"name": k, "value": v} for k, v in dims.items()],
        "unit": "Count",
    }


def _window() -> dict[str, datetime]:
    now = datetime.now(UTC)
    return {"start_time": now - timedelta(hours=1), "end_time": now}


def test_arithmetic_between_metric_stats(admin: Client, account: str) -> None:
    churn = {"EndpointName": "churn"}
    results = admin.metrics.data(
        account,
        [
            stat_query("errors", NS, "Invocation5XXErrors", "Sum", dimensions=churn,
                       return_data=False),
            stat_query("calls", NS, "Invocations", "Sum", dimensions=churn, return_data=False),
            {"id": "rate", "expression": "100 * errors / calls", "label": "error rate %"},
        ],
        **_window(),
    )  # fmt: skip
    (rate,) = results
    assert rate["id"] == "rate"
    assert rate["label"] == "error rate %"
    assert rate["values"] == [0.0, 1.0, 2.0]
    assert len(rate["timestamps"]) == 3


def test_search_sums_across_endpoints_and_expressions_read_expressions(
    admin: Client, account: str
) -> None:
    search = (
        "SEARCH('{mlgov/Endpoints,EndpointName} MetricName=\"Invocation5XXErrors\"', 'Sum', 60)"
    )
    results = admin.metrics.data(
        account,
        [
            {"id": "all_errors", "expression": search, "return_data": True},
            {"id": "total", "expression": f"SUM({search})"},
            {"id": "calls", "expression": (
                "SUM(SEARCH('{mlgov/Endpoints,EndpointName} MetricName=\"Invocations\"', "
                "'Sum', 60))"
            ), "return_data": False},
            {"id": "rate", "expression": "total / calls"},
            {"id": "peak", "expression": "MAX(total)"},
        ],
        **_window(),
    )  # fmt: skip
    by_label = {(r["id"], r["label"]): r["values"] for r in results}
    assert by_label[("all_errors", "Invocation5XXErrors EndpointName=churn")] == [0.0, 1.0, 2.0]
    assert by_label[("all_errors", "Invocation5XXErrors EndpointName=fraud")] == [0.0, 2.0, 4.0]
    assert by_label[("total", "SUM")] == [0.0, 3.0, 6.0]
    # The {EndpointName, V} metric is not in the schema's dimension set: 150 calls a minute.
    assert [round(v, 4) for v in by_label[("rate", "SUM / SUM")]] == [0.0, 0.02, 0.04]
    peak = next(r for r in results if r["id"] == "peak")
    assert peak["values"] == [6.0]


def test_percentile_stats_and_a_metric_without_data(admin: Client, account: str) -> None:
    results = admin.metrics.data(
        account,
        [
            stat_query("p50", NS, "Invocations", "p50", dimensions={"EndpointName": "fraud"}),
            stat_query("none", NS, "NoSuchMetric", "Average"),
        ],
        **_window(),
    )
    assert [r["values"] for r in results] == [[50.0, 50.0, 50.0], []]


def _summed_search(query_id: str, metric_name: str) -> dict[str, str]:
    search = f"SEARCH('{{{NS},EndpointName}} MetricName=\"{metric_name}\"', 'Sum', 60)"
    return {"id": query_id, "expression": f"SUM({search})"}


def test_searches_in_one_request_share_the_matched_metric_limit(
    admin: Client, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "MAX_SEARCHED_METRICS", 3)
    calls = _summed_search("calls", "Invocations")
    errors = _summed_search("errors", "Invocation5XXErrors")
    # Three metrics are listed (two exact matches and one with an extra dimension): at the limit.
    [alone] = admin.metrics.data(account, [calls], **_window())
    assert alone["values"] == [150.0, 150.0, 150.0]
    # Two more exact matches in the same request: over it.
    with pytest.raises(InvalidRequest, match="more than 3 metrics") as raised:
        admin.metrics.data(account, [calls, errors], **_window())
    assert raised.value.code == "INVALID_QUERY"


@pytest.mark.parametrize(
    ("queries", "message"),
    [
        ([{"id": "a", "expression": "b + 1"}, {"id": "b", "expression": "a * 2"}], "cycle"),
        ([{"id": "a", "expression": "missing + 1"}], "not a query id"),
        ([{"id": "a", "expression": "a ** 2"}], "operator Pow"),
        ([{"id": "a", "expression": "1"}, {"id": "a", "expression": "2"}], "used twice"),
        (
            [{"id": "a", "expression": "SEARCH('{mlgov/Endpoints}', 'Median', 60)"}],
            "not SampleCount",
        ),
    ],
)
def test_bad_queries_are_400_invalid_query(
    admin: Client,
    account: str,
    queries: list[dict],
    message: str,  # type: ignore[type-arg]
) -> None:
    with pytest.raises(InvalidRequest, match=message) as raised:
        admin.metrics.data(account, queries, **_window())
    assert raised.value.code == "INVALID_QUERY"


@pytest.mark.parametrize(
    "query",
    [
        {"id": "a"},  # neither source
        {"id": "a", "expression": "1", "metric_stat": {"namespace": NS, "metric_name": "m",
                                                        "period": 60, "stat": "Sum"}},
        {"id": "Upper", "expression": "1"},
        {"id": "a", "metric_stat": {"namespace": NS, "metric_name": "m", "period": 60,
                                    "stat": "Median"}},
    ],
)  # fmt: skip
def test_malformed_queries_are_422(admin: Client, account: str, query: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidRequest) as raised:
        admin.metrics.data(account, [query], **_window())
    assert raised.value.code == "INVALID_REQUEST"
