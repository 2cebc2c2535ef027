"""Metrics: ingest shapes and validation, statistics and percentiles across rollups, listing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fastapi import FastAPI

from mlgov import Client, InvalidRequest
from mlgov.server.db.engine import unit_of_work
from mlgov.server.kit.pagination import PageRequest
from mlgov.server.metrics import schemas, service
from mlgov.server.metrics.tables import MetricRollup

NS = "Fraud/Inference"


@pytest.fixture
def account(admin: Client) -> str:
    admin.identity.create_account("fraud-dev", "dev")
    return "fraud-dev"


def minute_ago(minutes: int) -> datetime:
    now = datetime.now(UTC)
    return now.replace(second=0, microsecond=0) - timedelta(minutes=minutes)


def test_three_datum_shapes_and_basic_statistics(admin: Client, account: str) -> None:
    start = minute_ago(10)
    at = (start + timedelta(seconds=5)).isoformat()
    result = admin.metrics.put(
        account,
        NS,
        [
            {"metric_name": "latency", "value": 10.0, "timestamp": at, "unit": "Milliseconds"},
            {
                "metric_name": "latency",
                "values": [20.0, 30.0],
                "counts": [2, 1],
                "timestamp": at,
                "unit": "Milliseconds",
            },
            {
                "metric_name": "latency",
                "statistic_values": {"sample_count": 4, "sum": 40, "minimum": 10, "maximum": 10},
                "timestamp": at,
                "unit": "Milliseconds",
            },
        ],
    )
    assert result == {"accepted": 3, "metrics": 1}
    stats = admin.metrics.statistics(
        account,
        NS,
        "latency",
        start_time=start,
        end_time=start + timedelta(minutes=1),
        statistics=["SampleCount", "Sum", "Average", "Minimum", "Maximum"],
        extended_statistics=["p50", "p100"],
    )
    [point] = stats["datapoints"]
    assert point["timestamp"].startswith(start.strftime("%Y-%m-%dT%H:%M"))
    assert point["unit"] == "Milliseconds"
    assert (point["sample_count"], point["sum"]) == (8.0, 120.0)
    assert point["average"] == 15.0
    assert (point["minimum"], point["maximum"]) == (10.0, 30.0)
    # The statistic set stands for four identical values, so percentiles survive it.
    assert point["extended_statistics"] == {"p50": 10.0, "p100": 30.0}


def test_percentiles_merge_sketches_across_rollups(admin: Client, account: str) -> None:
    rng = np.random.default_rng(7)
    now = int(datetime.now(UTC).timestamp())
    start = datetime.fromtimestamp((now - 4 * 3600) // 7200 * 7200, UTC)
    values = rng.lognormal(3.0, 1.0, size=6000)
    data = [
        {
            "metric_name": "latency",
            "values": [float(v) for v in chunk],
            "timestamp": (start + timedelta(minutes=i)).isoformat(),
        }
        for i, chunk in enumerate(np.array_split(values, 120))
    ]
    for first in range(0, len(data), 20):  # the test server takes 64 KB bodies
        admin.metrics.put(account, NS, data[first : first + 20])

    def p(period: int, name: str) -> list[float]:
        out = admin.metrics.statistics(
            account,
            NS,
            "latency",
            start_time=start,
            end_time=start + timedelta(hours=2),
            period=period,
            extended_statistics=[name],
            statistics=["SampleCount"],
        )
        return [d["extended_statistics"][name] for d in out["datapoints"]]

    hourly = p(3600, "p99")  # read from the hourly rollups
    by_minute = p(60, "p50")  # read from the minute rollups
    assert len(hourly) == 2 and len(by_minute) == 120
    first_hour = values[:3000]
    # KLL's rank error at k=200 is about 1.65 %: the answer lies between p97 and p100.
    low, high = np.percentile(first_hour, [97.0, 100.0])
    assert low <= hourly[0] <= high
    assert by_minute[0] == pytest.approx(np.percentile(values[:50], 50), rel=0.1)
    # A two-hour period (hourly rollups merged again) still agrees with the raw data.
    [two_hours] = p(7200, "p90")
    assert np.percentile(values, 88) <= two_hours <= np.percentile(values, 92)


def test_percentiles_unavailable_after_a_real_statistic_set_or_negative_values(
    admin: Client, account: str
) -> None:
    start = minute_ago(5)
    at = start.isoformat()
    admin.metrics.put(
        account,
        NS,
        [
            {"metric_name": "mixed", "value": 5.0, "timestamp": at},
            {
                "metric_name": "mixed",
                "statistic_values": {"sample_count": 3, "sum": 9, "minimum": 1, "maximum": 5},
                "timestamp": at,
            },
            {"metric_name": "negative", "values": [-1.0, 2.0], "timestamp": at},
        ],
    )
    for name in ("mixed", "negative"):
        [point] = admin.metrics.statistics(
            account,
            NS,
            name,
            start_time=start,
            end_time=start + timedelta(minutes=1),
            extended_statistics=["p90"],
            statistics=["Sum"],
        )["datapoints"]
        assert point["extended_statistics"] == {"p90": None}
    assert point["sum"] == 1.0


def test_units_and_dimensions_make_separate_metrics(admin: Client, account: str) -> None:
    start = minute_ago(3)
    at = start.isoformat()
    admin.metrics.put(
        account,
        NS,
        [
            {"metric_name": "size", "value": 1, "unit": "Bytes", "timestamp": at},
            {"metric_name": "size", "value": 2, "unit": "Kilobytes", "timestamp": at},
            {
                "metric_name": "size",
                "value": 3,
                "unit": "Bytes",
                "timestamp": at,
                "dimensions": [{"name": "Model", "value": "fraud"}],
            },
        ],
    )
    listed = list(admin.metrics.list(account, namespace=NS, metric_name="size"))
    assert len(listed) == 3
    window = {"start_time": start, "end_time": start + timedelta(minutes=1)}
    both = admin.metrics.statistics(account, NS, "size", statistics=["Sum"], **window)
    assert sorted((d["unit"], d["sum"]) for d in both["datapoints"]) == [
        ("Bytes", 1.0),
        ("Kilobytes", 2.0),
    ]
    bytes_only = admin.metrics.statistics(
        account, NS, "size", statistics=["Sum"], unit="Bytes", **window
    )
    assert [d["sum"] for d in bytes_only["datapoints"]] == [1.0]
    by_model = admin.metrics.statistics(
        account, NS, "size", statistics=["Sum"], dimensions={"Model": "fraud"}, **window
    )
    assert [d["sum"] for d in by_model["datapoints"]] == [3.0]


def _error(admin: Client, account: str, datum: dict, index: int = 1) -> InvalidRequest:  # type: ignore[type-arg]
    good = {"metric_name": "ok", "value": 1.0}
    with pytest.raises(InvalidRequest) as raised:
        admin.metrics.put(account, NS, [good] * index + [datum])
    return raised.value


@pytest.mark.parametrize(
    ("datum", "words"),
    [
        ({"metric_name": "m", "value": 1, "timestamp": "2001-01-01T00:00:00Z"}, "window"),
        ({"metric_name": "m", "value": 1, "timestamp": ""}, "timestamp"),
        ({"metric_name": "m"}, "exactly one"),
        ({"metric_name": "m", "value": 1, "values": [1]}, "exactly one"),
        ({"metric_name": "m", "values": [1, 2], "counts": [1]}, "counts has 1"),
        ({"metric_name": "m", "values": []}, "empty"),
        ({"metric_name": "m", "value": 1e200}, "value"),
        (
            {
                "metric_name": "m",
                "statistic_values": {"sample_count": 1, "sum": 1, "minimum": 5, "maximum": 1},
            },
            "minimum is greater",
        ),
        (
            {
                "metric_name": "m",
                "value": 1,
                "dimensions": [{"name": "a", "value": "1"}, {"name": "a", "value": "2"}],
            },
            "twice",
        ),
        ({"metric_name": "m", "value": 1, "storage_resolution": 5}, "storage_resolution"),
    ],
)
def test_bad_datapoints_are_400_naming_the_index(
    admin: Client,
    account: str,
    datum: dict,
    words: str,  # type: ignore[type-arg]
) -> None:
    error = _error(admin, account, datum, index=2)
    assert error.code in ("INVALID_METRIC_DATA", "INVALID_REQUEST"), error
    assert "metric_data[2]" in error.message or "metric_data.2" in error.message, error.message
    assert words in error.message


def test_future_and_structural_limits(admin: Client, account: str, http) -> None:  # type: ignore[no-untyped-def]
    future = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    error = _error(admin, account, {"metric_name": "m", "value": 1, "timestamp": future}, 0)
    assert error.code == "INVALID_METRIC_DATA" and error.details == {"index": 0}
    dims = [{"name": f"d{i}", "value": "v"} for i in range(31)]
    error = _error(admin, account, {"metric_name": "m", "value": 1, "dimensions": dims}, 0)
    assert error.code == "INVALID_REQUEST" and "metric_data.0.dimensions" in error.message
    with pytest.raises(InvalidRequest) as raised:
        admin.metrics.put(account, "bad namespace!", [{"metric_name": "m", "value": 1}])
    assert "namespace" in raised.value.message
    nan = http.post(
        f"/api/v1/accounts/{account}/metrics",
        content=b'{"namespace": "n", "metric_data": [{"metric_name": "m", "value": NaN}]}',
        headers={
            "authorization": admin._transport.http.headers["authorization"],
            "content-type": "application/json",
        },
    )
    assert 400 <= nan.status_code < 500 and "metric_data.0.value" in nan.json()["error"]["message"]


@pytest.mark.parametrize("processes", [1, 2])
def test_a_bad_body_is_decoded_before_authorization_but_refused_after_it(
    app: FastAPI,
    admin: Client,
    account: str,
    http,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    processes: int,
) -> None:
    """Ingest decodes its body before its transaction (kit.routing's prepare; in its process's
    turn when the server has several): what the caller learns still follows authorization, and
    a refused body is audited like any failure."""
    monkeypatch.setattr(app.state.runtime.settings.server, "processes", processes)
    bad = b'{"namespace": "n", "metric_data": [{"metric_name": "m", "value": "x"}]}'
    path = f"/api/v1/accounts/{account}/metrics"
    json_type = {"content-type": "application/json"}
    anonymous = http.post(path, content=bad, headers=json_type)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "UNAUTHENTICATED"
    wrong_key = http.post(
        path, content=bad, headers={**json_type, "authorization": "Bearer mlgov_key-x.y"}
    )
    assert wrong_key.status_code == 401
    authorization = {"authorization": admin._transport.http.headers["authorization"]}
    refused = http.post(path, content=bad, headers={**json_type, **authorization})
    assert refused.status_code == 422 and "metric_data.0.value" in refused.text
    records = list(admin.audit.records(action="metrics:PutMetricData", outcome="failed"))
    assert [(r["requestID"], r["errorCode"]) for r in records][-1] == (
        refused.headers["x-request-id"],
        "INVALID_REQUEST",
    )
    good = b'{"namespace": "n", "metric_data": [{"metric_name": "m", "value": 1}]}'
    stored = http.post(path, content=good, headers={**json_type, **authorization})
    assert stored.status_code == 200 and stored.json() == {"accepted": 1, "metrics": 1}


def test_batch_limit(app: FastAPI, admin: Client, account: str) -> None:
    # 1,001 datums is over the limit; the schema refuses before anything is stored.
    with pytest.raises(Exception, match="1000"):
        schemas.PutMetricData.model_validate(
            {"namespace": NS, "metric_data": [{"metric_name": "m", "value": 1}] * 1001}
        )


def test_query_rules(admin: Client, account: str) -> None:
    now = datetime.now(UTC)
    base = {"statistics": ["Average"]}
    with pytest.raises(InvalidRequest, match="multiple of 60"):
        admin.metrics.statistics(
            account, NS, "m", start_time=now - timedelta(hours=1), end_time=now, period=90, **base
        )
    with pytest.raises(InvalidRequest, match="1440"):
        admin.metrics.statistics(
            account, NS, "m", start_time=now - timedelta(days=2), end_time=now, period=60, **base
        )
    with pytest.raises(InvalidRequest, match="percentile"):
        admin.metrics.statistics(
            account,
            NS,
            "m",
            start_time=now - timedelta(hours=1),
            end_time=now,
            extended_statistics=["p101"],
        )
    with pytest.raises(InvalidRequest, match="at least one"):
        admin.metrics.statistics(
            account, NS, "m", start_time=now - timedelta(hours=1), end_time=now
        )
    # Data older than 15 days is only readable at periods that are multiples of 300 s.
    old = admin.metrics.statistics(
        account,
        NS,
        "m",
        start_time=now - timedelta(days=20),
        end_time=now - timedelta(days=19, hours=12),
        period=60,
        **base,
    )
    assert old["datapoints"] == []


def test_list_metrics_filters_and_pages(admin: Client, account: str) -> None:
    data = [
        {
            "metric_name": f"m{i % 3}",
            "value": i,
            "dimensions": [{"name": "Model", "value": f"model-{i}"}]
            + ([{"name": "Variant", "value": "blue"}] if i % 2 else []),
        }
        for i in range(9)
    ]
    admin.metrics.put(account, NS, data)
    admin.metrics.put(account, "Other", [{"metric_name": "m0", "value": 1}])
    assert len(list(admin.metrics.list(account, page_size=2))) == 10
    assert len(list(admin.metrics.list(account, namespace=NS, page_size=2))) == 9
    assert len(list(admin.metrics.list(account, metric_name="m0"))) == 4
    with_variant = list(admin.metrics.list(account, dimensions=["Variant"], page_size=1))
    assert len(with_variant) == 4
    exact = list(admin.metrics.list(account, dimensions=["Model=model-3", "Variant=blue"]))
    assert [m["metric_name"] for m in exact] == ["m0"]
    assert exact[0]["dimensions"] == [
        {"name": "Model", "value": "model-3"},
        {"name": "Variant", "value": "blue"},
    ]


def test_retention_drops_each_tier_after_its_time(
    app: FastAPI, admin: Client, account: str
) -> None:
    account_id = admin.identity.get_account(account)["id"]
    now = datetime.now(UTC)
    data = schemas.PutMetricData.model_validate(
        {"namespace": NS, "metric_data": [{"metric_name": "kept", "value": 1}]}
    )
    factory = app.state.runtime.session_factory
    with unit_of_work(factory) as session:
        service.put_metric_data(session, account_id, data, now)

    def tiers(at: datetime) -> list[int]:
        with unit_of_work(factory) as session:
            service.expire(session, at)
            rows = session.query(MetricRollup.resolution).order_by(MetricRollup.resolution)
            return [r[0] for r in rows]

    assert tiers(now + timedelta(days=1)) == [60, 300, 3600]
    assert tiers(now + timedelta(days=16)) == [300, 3600]
    assert tiers(now + timedelta(days=64)) == [3600]
    assert tiers(now + timedelta(days=456)) == []
    with unit_of_work(factory) as session:
        page = PageRequest(page_size=10, after=None)
        assert service.list_metrics(session, account_id, page, now=now) == []
