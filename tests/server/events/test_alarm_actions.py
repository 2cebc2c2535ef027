"""Alarm actions: an alarm names event rules by ARN, and their targets get its state changes
through the dispatcher (the same delivery rows, retries and dead letters as pattern routing)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from mlgov import AccessDenied, Client, InvalidRequest
from mlgov.server.alarms import service as alarms
from mlgov.server.alarms.tables import Alarm
from mlgov.server.db.engine import unit_of_work
from mlgov.server.events.dispatcher import Dispatcher
from mlgov.server.events.tables import EventDelivery
from tests.server.events.conftest import Receiver, drain

NOBODY = {"source": ["com.example.nobody"]}  # a rule that only alarm actions feed
ALARM = {
    "namespace": "Fraud/Inference",
    "metric_name": "latency",
    "statistic": "Average",
    "period": 60,
    "evaluation_periods": 1,
    "threshold": 100.0,
    "comparison_operator": "GreaterThanThreshold",
}


def _hook(receiver: Receiver, name: str, **extra: object) -> dict[str, object]:
    """A webhook to the test receiver; ``x-target`` tells which rule's target was called."""
    return {
        "id": name,
        "type": "webhook",
        "config": {"url": receiver.url, "timeout_seconds": 2, "headers": {"x-target": name}},
        "secret": "s3cret-signing-key-0001",
        **extra,
    }


def _rule(team: Client, account: str, name: str, receiver: Receiver, pattern: object = None) -> str:
    """A rule with one webhook target; returns its ARN (as the API reports it)."""
    rule = team.events.put_rule(account, name, pattern or NOBODY)
    team.events.put_targets(account, name, [_hook(receiver, name)])
    return str(rule["arn"])


def _called(receiver: Receiver, target: str) -> list[dict[str, object]]:
    with receiver.lock:
        return [r.json() for r in receiver.received if r.headers.get("x-target") == target]


def _idle(dispatcher: Dispatcher) -> None:
    drain(dispatcher, lambda: dispatcher.run_once() == 0)


def _deliveries(app: FastAPI) -> list[EventDelivery]:
    with app.state.runtime.session_factory() as session:
        return list(session.execute(select(EventDelivery)).scalars())


def test_alarm_actions_get_the_state_change_of_their_state_only(
    app: FastAPI, team: Client, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    account = team.identity.get_account("team-a")["id"]
    pager = _rule(team, "team-a", "pager", receiver)
    chat = _rule(team, "team-a", "chat", receiver)
    assert pager == f"mlgov:events:{account}:rule/default/pager"
    team.alarms.put_metric_alarm(
        "team-a",
        "latency-high",
        **ALARM,
        treat_missing_data="breaching",
        alarm_actions=[pager],
        ok_actions=[chat],
    )
    receiver.status = 503  # the pager is down at first: the delivery is retried
    with unit_of_work(app.state.runtime.session_factory) as session:
        # No data, treated as breaching: the evaluator (bulk path) moves it to ALARM.
        report = alarms.evaluate_all(session, datetime.now(UTC))
    assert [t[2] for t in report.transitions] == ["ALARM"]
    drain(dispatcher, lambda: len(_called(receiver, "pager")) >= 2)
    receiver.status = 200
    drain(dispatcher, lambda: receiver.accepted_ids() != set())
    _idle(dispatcher)
    first = receiver.received[-1]
    assert first.signed_by("s3cret-signing-key-0001")
    event = first.json()
    assert event["detail-type"] == "Alarm State Change" and event["source"] == "mlgov.alarms"
    assert event["detail"]["alarmName"] == "latency-high"
    assert event["detail"]["state"]["value"] == "ALARM"
    assert event["detail"]["actions"] == {"enabled": True, "targets": [pager]}
    assert _called(receiver, "chat") == []  # ok_actions are not ALARM's
    (delivery,) = _deliveries(app)
    assert delivery.status == "SUCCEEDED" and delivery.attempts >= 2
    assert delivery.rule_name == "pager" and delivery.target_id == "pager"

    team.alarms.set_state("team-a", "latency-high", "OK", "recovered")
    drain(dispatcher, lambda: len(_called(receiver, "chat")) == 1)
    _idle(dispatcher)
    assert _called(receiver, "chat")[0]["detail"]["state"]["value"] == "OK"  # type: ignore[index]
    assert len({e["id"] for e in _called(receiver, "pager")}) == 1  # not again for OK
    team.alarms.set_state("team-a", "latency-high", "OK", "still fine")  # no transition
    team.alarms.set_state("team-a", "latency-high", "INSUFFICIENT_DATA", "drill")  # no actions
    _idle(dispatcher)
    assert len(_deliveries(app)) == 2
    assert list(team.events.dead_letters("team-a")) == []


def test_actions_enabled_false_suppresses_delivery(
    app: FastAPI, team: Client, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    pager = _rule(team, "team-a", "pager", receiver)
    team.alarms.put_metric_alarm(
        "team-a", "quiet", **ALARM, alarm_actions=[pager], actions_enabled=False
    )
    team.alarms.set_state("team-a", "quiet", "ALARM", "drill")
    _idle(dispatcher)
    assert receiver.received == [] and _deliveries(app) == []

    team.alarms.enable_actions("team-a", "quiet")
    team.alarms.set_state("team-a", "quiet", "OK", "drill")
    team.alarms.set_state("team-a", "quiet", "ALARM", "drill")
    drain(dispatcher, lambda: len(receiver.received) == 1)
    team.alarms.disable_actions("team-a", "quiet")
    team.alarms.set_state("team-a", "quiet", "OK", "drill")
    team.alarms.set_state("team-a", "quiet", "ALARM", "drill")
    _idle(dispatcher)
    assert len(receiver.received) == 1


def test_a_rule_named_and_matched_gets_the_event_once_and_disabled_rules_none(
    app: FastAPI, team: Client, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    every_alarm = {"source": ["mlgov.alarms"]}
    both = _rule(team, "team-a", "both", receiver, every_alarm)
    off = _rule(team, "team-a", "off", receiver)
    team.events.disable_rule("team-a", "off")
    team.alarms.put_composite_alarm("team-a", "c", "TRUE", alarm_actions=[both, off])
    team.alarms.set_state("team-a", "c", "ALARM", "drill")
    drain(dispatcher, lambda: len(receiver.received) == 1)
    _idle(dispatcher)
    assert len(_called(receiver, "both")) == 1 and _called(receiver, "off") == []


def test_a_deleted_rule_gives_a_dead_letter_in_the_alarms_account(
    app: FastAPI, team: Client, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    pager = _rule(team, "team-a", "pager", receiver)
    team.alarms.put_metric_alarm("team-a", "orphan", **ALARM, alarm_actions=[pager])
    team.events.delete_rule("team-a", "pager")
    team.alarms.set_state("team-a", "orphan", "ALARM", "drill")
    drain(dispatcher, lambda: len(list(team.events.dead_letters("team-a"))) == 1)
    (letter,) = team.events.dead_letters("team-a")
    assert letter["error_code"] == "NO_RESOURCE" and letter["rule"] == "pager"
    assert pager in letter["error_message"]
    assert letter["event"]["detail"]["alarmName"] == "orphan"
    assert receiver.received == []

    # An action stored before actions were checked (free text) dead-letters the same way.
    with unit_of_work(app.state.runtime.session_factory) as session:
        row = session.execute(select(Alarm).where(Alarm.name == "orphan")).scalar_one()
        row.alarm_actions = ["pager"]
    team.alarms.set_state("team-a", "orphan", "OK", "drill")
    team.alarms.set_state("team-a", "orphan", "ALARM", "drill")
    drain(dispatcher, lambda: len(list(team.events.dead_letters("team-a"))) == 2)
    messages = [d["error_message"] for d in team.events.dead_letters("team-a")]
    assert any(m.startswith("alarm action pager: not a rule ARN") for m in messages)
    assert team.events.redrive("team-a") == 2  # names no target: dead again
    _idle(dispatcher)
    assert {d["error_code"] for d in team.events.dead_letters("team-a")} == {"NO_RESOURCE"}
    assert receiver.received == []


@pytest.mark.parametrize(
    ("field", "ref", "words"),
    [
        ("alarm_actions", "pager", "not a rule ARN"),
        ("alarm_actions", "arn:aws:sns:us-east-1:123456789012:pager", "not a rule ARN"),
        ("ok_actions", "mlgov:events:team-a:rule/default", "not a rule ARN"),
        ("alarm_actions", "mlgov:events:team-a:rule/default/ghost", "has no rule ghost"),
        ("insufficient_data_actions", "mlgov:events:team-a:rule/nobus/pager", "no rule pager"),
    ],
)
def test_malformed_or_unknown_actions_are_400(
    team: Client, receiver: Receiver, field: str, ref: str, words: str
) -> None:
    _rule(team, "team-a", "pager", receiver)
    for put in (
        lambda: team.alarms.put_metric_alarm("team-a", "bad", **ALARM, **{field: [ref]}),
        lambda: team.alarms.put_composite_alarm("team-a", "bad", "TRUE", **{field: [ref]}),
    ):
        with pytest.raises(InvalidRequest) as refused:
            put()
        assert refused.value.code == "INVALID_TARGET"
        assert words in refused.value.message and f"{field}[0]" in refused.value.message
    assert list(team.alarms.list("team-a")) == []


def test_another_accounts_rule_needs_a_permission_on_its_bus(
    app: FastAPI, team: Client, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    theirs = _rule(team, "team-b", "oncall", receiver)
    b = team.identity.get_account("team-b")["id"]
    refusals = []
    for ref in (theirs, f"mlgov:events:{b}:rule/default/ghost", "mlgov:events:nobody:rule/x/y"):
        with pytest.raises(AccessDenied) as refused:
            team.alarms.put_metric_alarm("team-a", "x", **ALARM, alarm_actions=[ref])
        assert refused.value.code == "CROSS_ACCOUNT_TARGET_DENIED"
        refusals.append(refused.value.message.split(":", 1)[0])
    assert refusals == ["alarm_actions[0]"] * 3  # one answer: other accounts stay opaque

    team.events.permit("team-b", "team-a")
    team.alarms.put_metric_alarm("team-a", "x", **ALARM, alarm_actions=[theirs])
    team.alarms.set_state("team-a", "x", "ALARM", "drill")
    drain(dispatcher, lambda: len(receiver.received) == 1)
    event = receiver.received[0].json()
    assert event["account"] == team.identity.get_account("team-a")["id"]
    (delivery,) = _deliveries(app)
    assert delivery.account_id == b  # the rule's owner sees the delivery (and its dead letters)

    team.events.revoke("team-b", "team-a")  # withdrawn: refused at delivery too
    team.alarms.set_state("team-a", "x", "OK", "drill")
    team.alarms.set_state("team-a", "x", "ALARM", "drill")
    drain(dispatcher, lambda: len(list(team.events.dead_letters("team-a"))) == 1)
    (letter,) = team.events.dead_letters("team-a")
    assert letter["error_code"] == "NO_PERMISSIONS"
    assert len(receiver.received) == 1
    with pytest.raises(AccessDenied):
        team.alarms.put_metric_alarm("team-a", "x", **ALARM, alarm_actions=[theirs])
