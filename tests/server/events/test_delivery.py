"""Delivery from the outbox: signed webhooks, retries, dead letters, redrive, buses, replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from mlgov import AccessDenied, Client
from mlgov.server.events.dispatcher import Dispatcher, backoff_seconds
from mlgov.server.events.tables import EventDelivery
from mlgov.server.events.targets import (
    Outgoing,
    register_internal_target,
    unregister_internal_target,
)
from mlgov.server.workers.event_dispatcher import EventDispatcher
from tests.conftest import client_for
from tests.server.events.conftest import Receiver, drain

RULE = {"source": ["com.example.app"]}


def _hook(receiver: Receiver, **extra: object) -> dict[str, object]:
    return {
        "id": "hook",
        "type": "webhook",
        "config": {"url": receiver.url, "timeout_seconds": 2},
        "secret": "s3cret-signing-key-0001",
        **extra,
    }


def _put(client: Client, account: str, count: int, **detail: object) -> list[str]:
    ids: list[str] = []
    for start in range(0, count, 10):
        entries = [
            {"source": "com.example.app", "detail_type": "Tick", "detail": {"n": n, **detail}}
            for n in range(start, min(count, start + 10))
        ]
        result = client.events.put_events(account, entries)
        assert result["failed_entry_count"] == 0
        ids.extend(e["event_id"] for e in result["entries"])
    return ids


def _deliveries(app: FastAPI) -> list[EventDelivery]:
    with app.state.runtime.session_factory() as session:
        return list(session.execute(select(EventDelivery)).scalars())


def test_webhook_down_then_up_gets_every_event_exactly_once_after_dedup(
    app: FastAPI, team: Client, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    team.events.put_rule("team-a", "all-app", RULE)
    team.events.put_targets("team-a", "all-app", [_hook(receiver)])
    receiver.status = 503  # the receiver is down
    ids = _put(team, "team-a", 25)
    drain(dispatcher, lambda: len(set(receiver.ids())) == 25)
    assert receiver.accepted_ids() == set()
    receiver.status = 200  # ... and recovers
    drain(dispatcher, lambda: receiver.accepted_ids() == set(ids))
    assert all(d.status == "SUCCEEDED" for d in _deliveries(app))
    assert all(d.attempts >= 2 for d in _deliveries(app))
    first = receiver.received[-1]
    assert first.signed_by("s3cret-signing-key-0001")
    assert not first.signed_by("another-key-entirely-0002")
    envelope = first.json()
    assert set(envelope) >= {"version", "id", "detail-type", "source", "account", "time", "detail"}
    assert envelope["id"] == first.event_id and envelope["source"] == "com.example.app"
    assert list(team.events.dead_letters("team-a")) == []


def test_mlgov_domain_events_route_from_the_outbox(
    app: FastAPI, team: Client, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    team.events.put_rule(
        "team-a", "versions", {"source": ["mlgov.registry"], "detail-type": [{"prefix": "Model"}]}
    )
    team.events.put_targets("team-a", "versions", [_hook(receiver)])
    team.registry.create_group("team-a", "fraud")
    team.registry.create_version("team-a", "fraud", flavor="sklearn", artifact=b"weights")
    drain(dispatcher, lambda: len(receiver.received) >= 1)
    event = receiver.received[0].json()
    assert event["detail-type"] == "Model Version State Change"
    assert event["account"] == team.identity.get_account("team-a")["id"]


def test_retries_exhausted_go_to_the_dead_letter_store_and_redrive(
    app: FastAPI, team: Client, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    team.events.put_rule("team-a", "r", RULE)
    policy = {"maximum_retry_attempts": 2, "maximum_event_age_seconds": 3600}
    team.events.put_targets("team-a", "r", [_hook(receiver, retry_policy=policy)])
    receiver.status = 500
    ids = _put(team, "team-a", 3)
    drain(dispatcher, lambda: len(list(team.events.dead_letters("team-a"))) == 3)
    letters = list(team.events.dead_letters("team-a"))
    assert {letter["event_id"] for letter in letters} == set(ids)
    letter = letters[0]
    assert letter["error_code"] == "HTTP_500"
    assert letter["exhausted_retry_condition"] == "MaximumRetryAttempts"
    assert letter["retry_attempts"] == 2 and letter["rule"] == "r" and letter["target"] == "hook"
    assert letter["event"]["id"] == letter["event_id"]
    assert len(receiver.received) == 9  # 1 attempt + 2 retries each

    receiver.status = 200
    assert team.events.redrive("team-a", ids=[letter["id"]]) == 1
    drain(dispatcher, lambda: len(receiver.accepted_ids()) == 1)
    assert receiver.accepted_ids() == {letter["event_id"]}
    assert team.events.redrive("team-a") == 2
    drain(dispatcher, lambda: receiver.accepted_ids() == set(ids))
    assert list(team.events.dead_letters("team-a")) == []


def test_client_errors_are_not_retried(
    app: FastAPI, team: Client, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    team.events.put_rule("team-a", "r", RULE)
    team.events.put_targets("team-a", "r", [_hook(receiver)])
    receiver.status = 404
    _put(team, "team-a", 1)
    drain(dispatcher, lambda: len(list(team.events.dead_letters("team-a"))) == 1)
    (letter,) = team.events.dead_letters("team-a")
    assert letter["error_code"] == "HTTP_404" and letter["exhausted_retry_condition"] is None
    assert len(receiver.received) == 1


def test_disabled_rules_and_unmatched_events_deliver_nothing(
    app: FastAPI, team: Client, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    team.events.put_rule("team-a", "r", RULE, enabled=False)
    team.events.put_targets("team-a", "r", [_hook(receiver)])
    team.events.put_rule("team-a", "other", {"source": ["elsewhere"]})
    team.events.put_targets("team-a", "other", [_hook(receiver)])
    _put(team, "team-a", 2)
    drain(dispatcher, lambda: dispatcher.run_once() == 0)
    assert receiver.received == [] and _deliveries(app) == []
    team.events.enable_rule("team-a", "r")
    _put(team, "team-a", 1)
    drain(dispatcher, lambda: len(receiver.received) == 1)


def test_input_transformer_and_slack_and_internal_targets(
    app: FastAPI, team: Client, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    seen: list[Outgoing] = []
    register_internal_target("collect", seen.append)
    try:
        team.events.put_rule("team-a", "r", RULE)
        team.events.put_targets(
            "team-a",
            "r",
            [
                {
                    "id": "shaped",
                    "type": "webhook",
                    "config": {"url": receiver.url},
                    "input_transformer": {
                        "input_paths_map": {"n": "$.detail.n", "who": "$.detail.who"},
                        "input_template": '{"number": <n>, "who": "<who>", "rule": '
                        '"<mlgov.events.rule-name>"}',
                    },
                },
                {"id": "chat", "type": "slack", "config": {"url": receiver.url}},
                {"id": "inproc", "type": "internal", "config": {"handler": "collect"}},
            ],
        )
        (event_id,) = _put(team, "team-a", 1, who="ann")
        drain(dispatcher, lambda: len(receiver.received) == 2 and len(seen) == 1)
    finally:
        unregister_internal_target("collect")
    bodies = sorted((r.json() for r in receiver.received), key=lambda b: "text" in b)
    assert bodies[0] == {"number": 0, "who": "ann", "rule": "r"}
    assert "Tick" in bodies[1]["text"] and event_id in bodies[1]["text"]
    assert seen[0].event_id == event_id and seen[0].rule_name == "r"


def test_cross_account_bus_target_needs_a_permission_from_the_owner(
    app: FastAPI, team: Client, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    team.events.put_rule("team-a", "forward", RULE)
    forward = {"id": "to-b", "type": "event-bus", "config": {"account": "team-b"}}
    with pytest.raises(AccessDenied) as refused:
        team.events.put_targets("team-a", "forward", [forward])
    assert refused.value.code == "CROSS_ACCOUNT_TARGET_DENIED"

    team.events.permit("team-b", "team-a")
    team.events.put_targets("team-a", "forward", [forward])
    team.events.put_rule("team-b", "inbound", RULE)
    team.events.put_targets("team-b", "inbound", [_hook(receiver)])
    (first,) = _put(team, "team-a", 1)
    drain(dispatcher, lambda: len(receiver.received) == 1)
    event = receiver.received[0].json()
    assert event["id"] == first  # the same event, not a copy
    assert event["account"] == team.identity.get_account("team-a")["id"]

    team.events.revoke("team-b", "team-a")  # withdrawn: refused at delivery too
    (second,) = _put(team, "team-a", 1)
    drain(dispatcher, lambda: len(list(team.events.dead_letters("team-a"))) == 1)
    (letter,) = team.events.dead_letters("team-a")
    assert letter["event_id"] == second and letter["error_code"] == "NO_PERMISSIONS"
    assert len(receiver.received) == 1


def test_a_key_of_another_account_cannot_grant_itself_a_bus(app: FastAPI, team: Client) -> None:
    team.identity.create_principal("eng-a")
    team.identity.bind_role("eng-a", "AccountAdmin", account="team-a")
    engineer = client_for(app, team.identity.create_key("eng-a")["secret"])
    with pytest.raises(AccessDenied):
        engineer.events.permit("team-b", "team-a")
    engineer.events.put_rule("team-a", "fwd", RULE)
    with pytest.raises(AccessDenied):
        engineer.events.put_targets(
            "team-a", "fwd", [{"id": "x", "type": "event-bus", "config": {"account": "team-b"}}]
        )


def test_archive_and_replay_keep_ids_and_mark_the_replay(
    app: FastAPI, team: Client, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    team.events.create_archive("team-a", "everything")
    team.events.create_archive("team-a", "only-odd", pattern={"detail": {"n": [1, 3]}})
    before = datetime.now(UTC) - timedelta(minutes=1)
    ids = _put(team, "team-a", 4)
    drain(dispatcher, lambda: dispatcher.run_once() == 0)
    assert team.events.get_archive("team-a", "everything")["event_count"] == 4
    assert team.events.get_archive("team-a", "only-odd")["event_count"] == 2

    team.events.put_rule("team-a", "late", RULE)  # a rule created after the events happened
    team.events.put_targets("team-a", "late", [_hook(receiver)])
    replay = team.events.start_replay(
        "team-a", "again", "everything", before, datetime.now(UTC), rules=["late"]
    )
    assert replay["state"] == "STARTING"
    drain(dispatcher, lambda: team.events.get_replay("team-a", "again")["state"] == "COMPLETED")
    drain(dispatcher, lambda: len(receiver.received) == 4)
    assert sorted(receiver.ids()) == sorted(ids)
    assert {r.json()["replay-name"] for r in receiver.received} == {"again"}
    assert team.events.get_replay("team-a", "again")["events_replayed"] == 4
    # Replayed events are not archived again.
    assert team.events.get_archive("team-a", "everything")["event_count"] == 4


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    low = [backoff_seconds(n, 1.0, 60.0, lambda: 0.0) for n in range(1, 9)]
    high = [backoff_seconds(n, 1.0, 60.0, lambda: 1.0) for n in range(1, 9)]
    assert low == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert high == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]


def test_only_a_pass_that_takes_a_full_batch_goes_again_at_once(
    app: FastAPI, team: Client, dispatcher: Dispatcher
) -> None:
    # A pass per event under a steady trickle cost the API process a quarter of its CPU.
    team.events.put_rule("team-a", "all-app", RULE)
    drain(dispatcher, lambda: dispatcher.run_once() == 0)
    batch = dispatcher.settings.batch_size
    _put(team, "team-a", batch + 10)

    full = dispatcher.run_pass()
    rest = dispatcher.run_pass()
    idle = dispatcher.run_pass()

    assert (full.work, full.backlog) == (batch, True)
    assert (rest.work, rest.backlog) == (10, False)  # found work, but drained: wait for the poll
    assert (idle.work, idle.backlog) == (0, False)
    worker = EventDispatcher(app.state.runtime)
    try:
        _put(team, "team-a", 1)
        assert worker.tick() is False
    finally:
        worker.close()
