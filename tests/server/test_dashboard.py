"""The model dashboard: every endpoint a key may see, with versions, approvals and alarms."""

from __future__ import annotations

import pickle

from sklearn.dummy import DummyRegressor

from mlgov import Client
from tests.server.conftest import Team

MODEL = pickle.dumps(DummyRegressor(strategy="constant", constant=1.0).fit([[0.0]], [1.0]))


def _deploy(team: Team) -> None:
    team.scientist.registry.create_group("fraud-dev", "m")
    team.scientist.registry.create_version("fraud-dev", "m", flavor="sklearn", artifact=MODEL)
    team.approver.registry.approve("fraud-dev", "m", 1)
    team.engineer.registry.set_alias("fraud-dev", "m", "champion", 1)
    team.engineer.serving.create_endpoint(
        "fraud-dev", "scorer", [{"group": "m", "version": 1}], capture={"enabled": True}
    )
    team.engineer.registry.promote("fraud-dev", "m", 1, "fraud-prod")
    team.approver.registry.approve("fraud-prod", "m", 1)
    team.engineer.serving.create_endpoint("fraud-prod", "scorer", [{"group": "m", "version": 1}])


def test_rows_carry_versions_approvals_and_alarms(team: Team, admin: Client) -> None:
    _deploy(team)
    team.engineer.alarms.put_metric_alarm(
        "fraud-prod",
        "errors",
        namespace="mlgov/Serving",
        metric_name="Invocation5XXErrors",
        dimensions={"EndpointName": "scorer", "VariantName": "m-1"},
        statistic="Sum",
        period=60,
        evaluation_periods=1,
        threshold=0,
        comparison_operator="GreaterThanThreshold",
    )
    team.engineer.alarms.set_state("fraud-prod", "errors", "ALARM", "drill")
    team.engineer.alarms.put_metric_alarm(
        "fraud-prod",
        "unrelated",
        namespace="Other",
        metric_name="x",
        statistic="Sum",
        period=60,
        evaluation_periods=1,
        threshold=0,
        comparison_operator="GreaterThanThreshold",
    )
    rows = {(r["account"], r["endpoint"]): r for r in admin.dashboard.get()}
    assert set(rows) == {("fraud-dev", "scorer"), ("fraud-prod", "scorer")}
    dev = rows[("fraud-dev", "scorer")]
    assert dev["capture"] is True and dev["environment"] == "dev"
    assert dev["versions"] == [
        {
            "variant": "m-1",
            "weight": 1.0,
            "group": "m",
            "version": 1,
            "approval_status": "Approved",
            "aliases": ["champion"],
        }
    ]
    prod = rows[("fraud-prod", "scorer")]
    assert [(a["name"], a["state"]) for a in prod["alarms"]] == [("errors", "ALARM")]
    assert prod["alarms_in_alarm"] == 1
    assert [r["endpoint"] for r in admin.dashboard.get("fraud-dev")] == ["scorer"]


def test_a_key_sees_only_its_accounts(team: Team) -> None:
    _deploy(team)
    assert [r["account"] for r in team.scientist.dashboard.get()] == ["fraud-dev"]
    assert team.outsider.dashboard.get() == []
    assert team.outsider.dashboard.get("fraud-prod") == []  # names another account: nothing
