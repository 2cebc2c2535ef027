"""Alarms end to end: configuration, evaluation with an explicit clock, events, composites."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from mlgov import AccessDenied, Client, Conflict, InvalidRequest, NotFound
from mlgov.server.alarms import service as alarms
from mlgov.server.db.engine import unit_of_work
from mlgov.server.kit.outbox import OutboxEvent
from mlgov.server.metrics import schemas as metric_schemas
from mlgov.server.metrics import service as metrics
from tests.conftest import client_for

NS = "Fraud/Inference"
# A whole minute in the recent past, so every datapoint is inside the accepted window.
T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
ALARM_CONFIG = {
    "namespace": NS,
    "metric_name": "latency",
    "dimensions": {"Model": "fraud"},
    "statistic": "Average",
    "period": 60,
    "evaluation_periods": 3,
    "datapoints_to_alarm": 2,
    "threshold": 100.0,
    "comparison_operator": "GreaterThanThreshold",
}
# Actions name event rules by ARN; the ``account`` fixture creates these two.
NOBODY = {"source": ["com.example.nobody"]}


def rule_arn(account: str, rule: str) -> str:
    return f"mlgov:events:{account}:rule/default/{rule}"


def with_actions(account: str) -> dict[str, object]:
    return {
        **ALARM_CONFIG,
        "alarm_actions": [rule_arn(account, "pager")],
        "ok_actions": [rule_arn(account, "chat")],
    }


@pytest.fixture
def account(admin: Client) -> str:
    account_id = str(admin.identity.create_account("fraud-dev", "dev")["id"])
    for rule in ("pager", "chat"):
        admin.events.put_rule(account_id, rule, NOBODY)
    return account_id


def put(app: FastAPI, account: str, minute: int, value: float, name: str = "latency") -> None:
    data = metric_schemas.PutMetricData.model_validate(
        {
            "namespace": NS,
            "metric_data": [
                {
                    "metric_name": name,
                    "value": value,
                    "timestamp": (T0 + timedelta(minutes=minute, seconds=10)).isoformat(),
                    "dimensions": [{"name": "Model", "value": "fraud"}],
                }
            ],
        }
    )
    with unit_of_work(app.state.runtime.session_factory) as session:
        metrics.put_metric_data(session, account, data, T0 + timedelta(minutes=minute, seconds=30))


def evaluate(app: FastAPI, minute: int) -> alarms.EvaluationReport:
    with unit_of_work(app.state.runtime.session_factory) as session:
        return alarms.evaluate_all(session, T0 + timedelta(minutes=minute, seconds=1))


def events(app: FastAPI) -> list[dict]:  # type: ignore[type-arg]
    with app.state.runtime.session_factory() as session:
        rows = session.execute(
            select(OutboxEvent)
            .where(OutboxEvent.source == "mlgov.alarms")
            .order_by(OutboxEvent.position)
        ).scalars()
        return [json.loads(row.body) for row in rows]


def test_metric_alarm_lifecycle_with_events_and_history(
    app: FastAPI, admin: Client, account: str
) -> None:
    created = admin.alarms.put_metric_alarm(account, "latency-high", **with_actions(account))
    assert created["state_value"] == "INSUFFICIENT_DATA"
    assert created["state_reason"] == "Unchecked: Initial alarm creation"
    assert created["arn"] == f"mlgov:alarms:{account}:alarm/latency-high"

    for minute, value in enumerate([50.0, 150.0, 40.0, 160.0]):
        put(app, account, minute, value)
    report = evaluate(app, 4)  # periods: minutes 0..3, the last three real are 150, 40, 160
    assert report.transitions == [(created["arn"], "INSUFFICIENT_DATA", "ALARM")]
    alarm = admin.alarms.get(account, "latency-high")
    assert alarm["state_value"] == "ALARM"
    assert alarm["state_reason"].startswith("Threshold Crossed: 2 out of the last 3 datapoints")
    reason_data = json.loads(alarm["state_reason_data"])
    assert reason_data["recentDatapoints"] == [50.0, 150.0, 40.0, 160.0]
    assert reason_data["threshold"] == 100.0 and reason_data["period"] == 60

    [event] = events(app)
    assert event["detail-type"] == "Alarm State Change"
    assert event["source"] == "mlgov.alarms" and event["account"] == account
    assert event["resources"] == [created["arn"]]
    detail = event["detail"]
    assert detail["alarmName"] == "latency-high"
    assert detail["state"]["value"] == "ALARM"
    assert json.loads(detail["state"]["reasonData"])["statistic"] == "Average"
    assert detail["previousState"]["value"] == "INSUFFICIENT_DATA"
    assert detail["actions"] == {"enabled": True, "targets": [rule_arn(account, "pager")]}
    metric_stat = detail["configuration"]["metrics"][0]["metricStat"]
    assert metric_stat["metric"] == {
        "namespace": NS,
        "name": "latency",
        "dimensions": {"Model": "fraud"},
    }

    assert evaluate(app, 4).transitions == []  # no change, no event
    assert len(events(app)) == 1

    for minute in (4, 5, 6):
        put(app, account, minute, 10.0)
    assert evaluate(app, 7).transitions == [(created["arn"], "ALARM", "OK")]
    assert events(app)[-1]["detail"]["actions"]["targets"] == [rule_arn(account, "chat")]
    history = list(admin.alarms.history(account, "latency-high"))
    assert [h["item_type"] for h in history] == [
        "StateUpdate",
        "StateUpdate",
        "ConfigurationUpdate",
    ]
    assert history[0]["summary"] == "Alarm updated from ALARM to OK"
    only_state = list(admin.alarms.history(account, "latency-high", item_type="StateUpdate"))
    assert len(only_state) == 2


def test_missing_data_goes_insufficient_then_treat_missing_applies(
    app: FastAPI, admin: Client, account: str
) -> None:
    admin.alarms.put_metric_alarm(account, "quiet", **ALARM_CONFIG)
    admin.alarms.put_metric_alarm(
        account, "quiet-breaching", **{**ALARM_CONFIG, "treat_missing_data": "breaching"}
    )
    admin.alarms.put_metric_alarm(
        account, "quiet-ignore", **{**ALARM_CONFIG, "treat_missing_data": "ignore"}
    )
    admin.alarms.set_state(account, "quiet", "OK", "testing")
    admin.alarms.set_state(account, "quiet-ignore", "OK", "testing")
    evaluate(app, 30)
    states = {a["name"]: a["state_value"] for a in admin.alarms.list(account)}
    assert states == {
        "quiet": "INSUFFICIENT_DATA",
        "quiet-breaching": "ALARM",
        "quiet-ignore": "OK",
    }
    assert admin.alarms.get(account, "quiet")["state_reason"].startswith("Insufficient Data")


def test_percentile_alarm_reads_sketches(app: FastAPI, admin: Client, account: str) -> None:
    config = {**ALARM_CONFIG, "statistic": None, "extended_statistic": "p90"}
    config["evaluation_periods"] = config["datapoints_to_alarm"] = 1
    admin.alarms.put_metric_alarm(account, "tail", **config)
    # Average 60, but the tail is slow: p90 breaches while the mean does not.
    for value in [10.0] * 8 + [300.0, 300.0]:
        put(app, account, 0, value)
    evaluate(app, 1)
    assert admin.alarms.get(account, "tail")["state_value"] == "ALARM"


def test_five_minute_period_slides_every_minute(app: FastAPI, admin: Client, account: str) -> None:
    config = {**ALARM_CONFIG, "period": 300, "statistic": "Sum", "threshold": 250.0}
    config["evaluation_periods"] = config["datapoints_to_alarm"] = 1
    admin.alarms.put_metric_alarm(account, "sum5", **config)
    for minute in range(5):
        put(app, account, minute, 60.0)
    evaluate(app, 5)  # minutes 0-4: 300
    assert admin.alarms.get(account, "sum5")["state_value"] == "ALARM"
    evaluate(app, 9)  # minutes 4-8: 60
    assert admin.alarms.get(account, "sum5")["state_value"] == "OK"


def test_set_state_disable_actions_and_describe(app: FastAPI, admin: Client, account: str) -> None:
    admin.alarms.put_metric_alarm(account, "a", **with_actions(account))
    admin.alarms.disable_actions(account, "a")
    forced = admin.alarms.set_state(account, "a", "ALARM", "drill", '{"drill": true}')
    assert forced["state_value"] == "ALARM" and forced["state_reason"] == "drill"
    admin.alarms.set_state(account, "a", "ALARM", "again")  # same state: no event
    [event] = events(app)
    assert event["detail"]["actions"] == {"enabled": False, "targets": []}
    assert event["detail"]["state"]["reasonData"] == '{"drill": true}'
    assert admin.alarms.enable_actions(account, "a")["actions_enabled"] is True
    with pytest.raises(InvalidRequest, match="JSON"):
        admin.alarms.set_state(account, "a", "OK", "x", "not json")
    with pytest.raises(NotFound) as missing:
        admin.alarms.get(account, "nope")
    assert missing.value.code == "ALARM_NOT_FOUND"
    replaced = admin.alarms.put_metric_alarm(account, "a", **{**ALARM_CONFIG, "threshold": 5.0})
    assert replaced["state_value"] == "ALARM" and replaced["threshold"] == 5.0


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"period": 90}, "multiple of 60"),
        ({"datapoints_to_alarm": 4}, "cannot exceed"),
        ({"extended_statistic": "p99"}, "exactly one"),
        ({"statistic": None, "extended_statistic": "p101"}, "percentile"),
        ({"period": 3000, "evaluation_periods": 30}, "limit"),
        ({"comparison_operator": "LessThanLowerThreshold"}, "comparison_operator"),
        ({"treat_missing_data": "sometimes"}, "treat_missing_data"),
    ],
)
def test_bad_metric_alarms_are_4xx(admin: Client, account: str, change: dict, words: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidRequest, match=words):
        admin.alarms.put_metric_alarm(account, "bad", **{**ALARM_CONFIG, **change})


@pytest.mark.parametrize(
    "operator",
    [
        "LessThanLowerOrGreaterThanUpperThreshold",
        "LessThanLowerThreshold",
        "GreaterThanUpperThreshold",
    ],
)
def test_anomaly_band_operators_are_refused_clearly(
    app: FastAPI, admin: Client, admin_token: str, account: str, operator: str
) -> None:
    http = TestClient(app)
    response = http.put(
        f"/api/v1/accounts/{account}/alarms/band",
        json={**ALARM_CONFIG, "comparison_operator": operator},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "INVALID_REQUEST"
    assert "body.comparison_operator" in error["message"]
    assert "anomaly detection band" in error["message"] and "not support" in error["message"]
    assert list(admin.alarms.list(account)) == []


def test_composite_alarms(app: FastAPI, admin: Client, account: str) -> None:
    admin.alarms.put_metric_alarm(account, "cpu", **ALARM_CONFIG)
    admin.alarms.put_metric_alarm(account, "deploy", **ALARM_CONFIG)
    composite = admin.alarms.put_composite_alarm(
        account,
        "cpu-not-deploying",
        f"ALARM(cpu) AND NOT ALARM(mlgov:alarms:{account}:alarm/deploy)",
        alarm_actions=["mlgov:events:fraud-dev:rule/default/pager"],  # by account name
    )
    assert composite["alarm_actions"] == [rule_arn(account, "pager")]  # stored canonical
    assert composite["kind"] == "composite" and composite["state_value"] == "INSUFFICIENT_DATA"
    admin.alarms.put_composite_alarm(account, "outer", 'OK("cpu-not-deploying") OR FALSE')

    admin.alarms.set_state(account, "cpu", "ALARM", "drill")
    admin.alarms.set_state(account, "deploy", "OK", "drill")
    with unit_of_work(app.state.runtime.session_factory) as session:
        # Metric alarms have no data and TreatMissingData=missing, so they would go to
        # INSUFFICIENT_DATA; evaluate only the composites here.
        report = alarms.EvaluationReport()
        alarms._evaluate_composites(session, datetime.now(UTC), report)
    states = {a["name"]: a["state_value"] for a in admin.alarms.list(account, kind="composite")}
    assert states == {"cpu-not-deploying": "ALARM", "outer": "OK"}
    detail = events(app)[-2]["detail"]
    assert detail["alarmName"] == "cpu-not-deploying"
    assert detail["configuration"]["alarmRule"].startswith("ALARM(cpu)")
    assert json.loads(detail["state"]["reasonData"])["triggeringAlarms"] == [
        {"arn": f"mlgov:alarms:{account}:alarm/cpu", "state": {"value": "ALARM"}}
    ]
    assert detail["actions"]["targets"] == [rule_arn(account, "pager")]

    with pytest.raises(Conflict) as in_use:
        admin.alarms.delete(account, "cpu")
    assert in_use.value.code == "ALARM_IN_USE"
    with pytest.raises(Conflict):
        admin.alarms.put_composite_alarm(account, "cpu", "TRUE")  # a metric alarm's name


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("ALARM(cpu) AND", "position 14"),
        ("ALARM(ghost)", "do not exist: ghost"),
        ("ALARM(me)", "itself"),
        ("ALARM(mlgov:alarms:someone-else:alarm/cpu)", "not an alarm of this account"),
        ("ALARM(outer)", "cycle"),
    ],
)
def test_bad_composite_rules_are_400(admin: Client, account: str, rule: str, words: str) -> None:
    admin.alarms.put_metric_alarm(account, "cpu", **ALARM_CONFIG)
    admin.alarms.put_composite_alarm(account, "me", "ALARM(cpu)")
    admin.alarms.put_composite_alarm(account, "outer", "ALARM(me)")
    with pytest.raises(InvalidRequest) as raised:
        admin.alarms.put_composite_alarm(account, "me", rule)
    assert raised.value.code == "INVALID_ALARM_RULE"
    assert words in raised.value.message


def test_history_outlives_the_alarm_and_roles_apply(
    app: FastAPI, admin: Client, account: str
) -> None:
    admin.alarms.put_metric_alarm(account, "gone", **ALARM_CONFIG)
    admin.alarms.delete(account, "gone")
    with pytest.raises(NotFound):
        admin.alarms.get(account, "gone")
    summaries = [h["summary"] for h in admin.alarms.history(account, "gone")]
    assert summaries == ['Alarm "gone" deleted', 'Alarm "gone" created']

    for principal, role in (("viewer", "Viewer"), ("scientist", "DataScientist")):
        admin.identity.create_principal(principal)
        admin.identity.bind_role(principal, role, account="fraud-dev")
    viewer = client_for(app, admin.identity.create_key("viewer")["secret"])
    scientist = client_for(app, admin.identity.create_key("scientist")["secret"])
    scientist.alarms.put_metric_alarm("fraud-dev", "mine", **ALARM_CONFIG)
    scientist.metrics.put_value("fraud-dev", NS, "latency", 1.0)
    assert [a["name"] for a in viewer.alarms.list("fraud-dev")] == ["mine"]
    assert list(viewer.metrics.list("fraud-dev"))
    with pytest.raises(AccessDenied):
        viewer.alarms.put_metric_alarm("fraud-dev", "theirs", **ALARM_CONFIG)
    with pytest.raises(AccessDenied):
        viewer.metrics.put_value("fraud-dev", NS, "latency", 1.0)
