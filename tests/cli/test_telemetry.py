"""``mlgov metrics`` and ``mlgov alarms`` against the app in-process."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.cli.conftest import Cli


def test_metrics_put_get_list(cli: Cli) -> None:
    cli("accounts", "create", "fraud-dev", "--environment", "dev")
    at = (datetime.now(UTC) - timedelta(minutes=5)).replace(second=0, microsecond=0)
    put = ["metrics", "put", "-a", "fraud-dev", "--namespace", "Fraud", "--metric-name", "latency"]
    common = ["--dimension", "Model=fraud", "--unit", "Milliseconds", "--timestamp", at.isoformat()]
    out = cli(*put, "--value", "10", *common, "-o", "json")
    assert json.loads(out.stdout) == {"accepted": 1, "metrics": 1}
    cli(*put, "--value", "20", "--value", "30", *common)

    got = cli(
        "metrics",
        "get",
        "-a",
        "fraud-dev",
        "--namespace",
        "Fraud",
        "--metric-name",
        "latency",
        "--dimension",
        "Model=fraud",
        "--since",
        "1h",
        "--statistic",
        "Sum",
        "--statistic",
        "SampleCount",
        "--percentile",
        "p100",
        "-o",
        "json",
    )
    [point] = json.loads(got.stdout)["datapoints"]
    assert (point["sum"], point["sample_count"]) == (60.0, 3.0)
    assert point["extended_statistics"] == {"p100": 30.0}
    table = cli(
        "metrics",
        "get",
        "-a",
        "fraud-dev",
        "--namespace",
        "Fraud",
        "--metric-name",
        "latency",
        "--dimension",
        "Model=fraud",
        "--percentile",
        "p50",
    ).stdout
    assert "TIMESTAMP" in table and "p50" in table and "Milliseconds" in table

    listed = json.loads(cli("metrics", "list", "-a", "fraud-dev", "-o", "json").stdout)
    assert [m["metric_name"] for m in listed] == ["latency"]
    assert "Model=fraud" in cli("metrics", "list", "-a", "fraud-dev", "--dimension", "Model").stdout

    bad = cli(*put, "--value", "1", "--timestamp", "2001-01-01T00:00:00Z", code=1)
    assert bad.stderr.startswith("ERROR INVALID_METRIC_DATA: metric_data[0]")


def test_metrics_data_with_math(cli: Cli, tmp_path: Path) -> None:
    cli("accounts", "create", "fraud-dev", "--environment", "dev")
    at = (datetime.now(UTC) - timedelta(minutes=5)).replace(second=0, microsecond=0)
    put = [
        "metrics",
        "put",
        "-a",
        "fraud-dev",
        "--namespace",
        "Fraud",
        "--timestamp",
        at.isoformat(),
    ]
    for model, errors, calls in (("a", 1, 10), ("b", 3, 30)):
        cli(
            *put, "--metric-name", "errors", "--value", str(errors), "--dimension", f"Model={model}"
        )
        cli(*put, "--metric-name", "calls", "--value", str(calls), "--dimension", f"Model={model}")
    search = "SEARCH('{Fraud,Model} MetricName=\"%s\"', 'Sum', 60)"
    queries = tmp_path / "queries.json"
    queries.write_text(json.dumps([{"id": "errors", "expression": f"SUM({search % 'errors'})"}]))
    out = cli(
        "metrics", "data", "-a", "fraud-dev", "--query-file", str(queries),
        "--expression", f"calls=SUM({search % 'calls'})", "--expression", "rate=errors / calls",
        "--hide", "calls", "-o", "json",
    )  # fmt: skip
    results = {r["id"]: r["values"] for r in json.loads(out.stdout)}
    assert results == {"errors": [4.0], "rate": [0.1]}
    shown = cli("metrics", "data", "-a", "fraud-dev", "--expression", "rate=1 / 4").stdout
    assert "ID" in shown and "0.25" in shown

    bad = cli("metrics", "data", "-a", "fraud-dev", "--expression", "rate=errors ** 2", code=1)
    assert bad.stderr.startswith("ERROR INVALID_QUERY")
    cli("metrics", "data", "-a", "fraud-dev", code=2)
    cli("metrics", "data", "-a", "fraud-dev", "--expression", "no-equals-sign", code=2)


def test_alarms_commands(cli: Cli) -> None:
    cli("accounts", "create", "fraud-dev", "--environment", "dev")
    pager = '{"source": ["com.example.pager"]}'  # a rule that alarm actions name
    rule = json.loads(
        cli(
            "events", "rules", "put", "pager", "-a", "fraud-dev", "--pattern", pager, "-o", "json"
        ).stdout
    )
    cli(
        "alarms",
        "put",
        "-a",
        "fraud-dev",
        "latency-high",
        "--namespace",
        "Fraud",
        "--metric-name",
        "latency",
        "--dimension",
        "Model=fraud",
        "--statistic",
        "Average",
        "--threshold",
        "100",
        "--comparison-operator",
        "GreaterThanThreshold",
        "--evaluation-periods",
        "3",
        "--datapoints-to-alarm",
        "2",
        "--treat-missing-data",
        "notBreaching",
        "--alarm-action",
        "mlgov:events:fraud-dev:rule/default/pager",
    )
    cli("alarms", "put-composite", "-a", "fraud-dev", "composite", "--rule", "ALARM(latency-high)")
    described = json.loads(
        cli("alarms", "describe", "-a", "fraud-dev", "latency-high", "-o", "json").stdout
    )
    assert described["datapoints_to_alarm"] == 2 and described["alarm_actions"] == [rule["arn"]]
    listed = cli("alarms", "list", "-a", "fraud-dev").stdout
    assert "latency-high" in listed and "composite" in listed and "INSUFFICIENT_DATA" in listed

    cli("alarms", "set-state", "-a", "fraud-dev", "latency-high", "ALARM", "--reason", "drill")
    alarmed = json.loads(
        cli("alarms", "list", "-a", "fraud-dev", "--state", "ALARM", "-o", "json").stdout
    )
    assert [a["name"] for a in alarmed] == ["latency-high"]
    history = cli("alarms", "history", "-a", "fraud-dev", "latency-high").stdout
    assert "StateUpdate" in history and "drill" in history
    cli("alarms", "disable-actions", "-a", "fraud-dev", "latency-high")

    in_use = cli("alarms", "delete", "-a", "fraud-dev", "latency-high", code=1)
    assert in_use.stderr.startswith("ERROR ALARM_IN_USE:")
    bad_rule = cli("alarms", "put-composite", "-a", "fraud-dev", "c2", "--rule", "ALARM(x", code=1)
    assert bad_rule.stderr.startswith("ERROR INVALID_ALARM_RULE:")
    cli("alarms", "delete", "-a", "fraud-dev", "composite")
    cli("alarms", "delete", "-a", "fraud-dev", "latency-high")
    assert json.loads(cli("alarms", "list", "-a", "fraud-dev", "-o", "json").stdout) == []
