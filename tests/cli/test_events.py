"""``mlgov events`` against the app in-process."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import Result

from tests.cli.conftest import Cli


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def test_events_flow(cli: Cli) -> None:
    cli("accounts", "create", "team-a", "--environment", "dev")
    pattern = '{"source": ["com.example"]}'
    rule = as_json(
        cli("events", "rules", "put", "r", "-a", "team-a", "--pattern", pattern, "-o", "json")
    )
    assert rule["state"] == "ENABLED"
    assert "com.example" in cli("events", "rules", "list", "-a", "team-a").stdout
    cli("events", "rules", "disable", "r", "-a", "team-a")
    assert (
        as_json(cli("events", "rules", "describe", "r", "-a", "team-a", "-o", "json"))["state"]
        == "DISABLED"
    )
    cli("events", "rules", "enable", "r", "-a", "team-a")

    target = '{"id": "hook", "type": "webhook", "config": {"url": "http://127.0.0.1:9/x"}}'
    put = cli("events", "targets", "put", "r", "-a", "team-a", "--target", target)
    assert "whsec_" in put.stderr and "whsec_" not in put.stdout
    listed = as_json(cli("events", "targets", "list", "r", "-a", "team-a", "-o", "json"))
    assert [t["id"] for t in listed] == ["hook"] and listed[0]["has_secret"]

    sent = as_json(
        cli(
            "events",
            "put",
            "-a",
            "team-a",
            "--source",
            "com.example",
            "--detail-type",
            "Tick",
            "--detail",
            '{"n": 1}',
            "-o",
            "json",
        )
    )
    assert sent["event_id"]
    refused = cli(
        "events", "put", "-a", "team-a", "--source", "mlgov.fake", "--detail-type", "X", code=1
    )
    assert "InvalidArgument" in refused.stdout

    event = '{"source": "com.example"}'
    cli("events", "test-pattern", "-a", "team-a", "--pattern", pattern, "--event", event)
    cli(
        "events",
        "test-pattern",
        "-a",
        "team-a",
        "--pattern",
        '{"source": ["x"]}',
        "--event",
        event,
        code=1,
    )
    bad = cli(
        "events",
        "test-pattern",
        "-a",
        "team-a",
        "--pattern",
        '{"source": "x"}',
        "--event",
        event,
        code=1,
    )
    assert bad.stderr.startswith("ERROR INVALID_EVENT_PATTERN: ")

    assert as_json(cli("events", "dlq", "list", "-a", "team-a", "-o", "json")) == []
    assert as_json(cli("events", "dlq", "redrive", "-a", "team-a", "--all", "-o", "json")) == {
        "redriven": 0
    }
    cli("events", "dlq", "redrive", "-a", "team-a", code=2)

    cli("events", "archives", "create", "all", "-a", "team-a", "--retention-days", "7")
    assert "all" in cli("events", "archives", "list", "-a", "team-a").stdout
    replay = as_json(
        cli(
            "events",
            "replay",
            "start",
            "again",
            "-a",
            "team-a",
            "--archive",
            "all",
            "--start",
            "2020-01-01T00:00:00",
            "--end",
            "2020-01-02T00:00:00",
            "-o",
            "json",
        )
    )
    assert replay["state"] == "STARTING"
    assert (
        as_json(cli("events", "replay", "describe", "again", "-a", "team-a", "-o", "json"))[
            "archive"
        ]
        == "all"
    )

    cli("events", "targets", "remove", "r", "hook", "-a", "team-a")
    cli("events", "rules", "delete", "r", "-a", "team-a")
    missing = cli("events", "rules", "describe", "r", "-a", "team-a", code=1)
    assert missing.stderr.startswith("ERROR RULE_NOT_FOUND: ")


def test_buses_and_permissions(cli: Cli) -> None:
    cli("accounts", "create", "team-a", "--environment", "dev")
    cli("accounts", "create", "team-b", "--environment", "dev")
    cli("events", "buses", "create", "orders", "-a", "team-b")
    assert "orders" in cli("events", "buses", "list", "-a", "team-b").stdout
    cli("events", "buses", "permit", "team-a", "-a", "team-b", "--bus", "orders")
    cli("events", "buses", "revoke", "team-a", "-a", "team-b", "--bus", "orders")
    gone = cli("events", "buses", "revoke", "team-a", "-a", "team-b", "--bus", "orders", code=1)
    assert gone.stderr.startswith("ERROR PERMISSION_NOT_FOUND: ")
