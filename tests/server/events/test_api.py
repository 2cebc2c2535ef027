"""The event bus API: PutEvents results, rule and target validation, secrets, email delivery."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from mlgov import Client, Conflict, InvalidRequest, NotFound
from mlgov.server.audit.tables import AuditRecord
from mlgov.server.events.dispatcher import Dispatcher
from tests.server.events.conftest import drain


def test_put_events_answers_each_entry_in_order(team: Client) -> None:
    team.events.create_bus("team-a", "orders")
    result = team.events.put_events(
        "team-a",
        [
            {"source": "com.example", "detail_type": "A", "detail": {"x": 1}},
            {"source": "mlgov.registry", "detail_type": "Forged", "detail": {}},
            {"source": "com.example", "detail_type": "B", "event_bus": "nope"},
            {"source": "com.example", "detail_type": "C", "event_bus": "orders"},
        ],
    )
    entries = result["entries"]
    assert result["failed_entry_count"] == 2
    assert entries[0]["event_id"] and entries[3]["event_id"]
    assert entries[1]["error_code"] == "InvalidArgument" and "mlgov." in entries[1]["error_message"]
    assert entries[2]["error_code"] == "EVENT_BUS_NOT_FOUND"


def test_put_events_limits(team: Client) -> None:
    eleven = [{"source": "s", "detail_type": "d"}] * 11
    with pytest.raises(InvalidRequest, match="entries"):
        team.events.put_events("team-a", eleven)
    with pytest.raises(InvalidRequest):
        team.events.put_events("team-a", [])


def test_rules_validate_patterns_and_round_trip(team: Client) -> None:
    with pytest.raises(InvalidRequest) as refused:
        team.events.put_rule("team-a", "bad", {"source": [{"wildcard": "a**"}]})
    assert refused.value.code == "INVALID_EVENT_PATTERN"
    rule = team.events.put_rule("team-a", "r", {"source": ["a"]}, description="first")
    assert (rule["state"], rule["event_bus"], rule["description"]) == (
        "ENABLED",
        "default",
        "first",
    )
    team.events.put_rule("team-a", "r", {"source": ["b"]})
    assert team.events.get_rule("team-a", "r")["event_pattern"] == {"source": ["b"]}
    assert team.events.disable_rule("team-a", "r")["state"] == "DISABLED"
    assert [r["name"] for r in team.events.list_rules("team-a")] == ["r"]
    team.events.delete_rule("team-a", "r")
    with pytest.raises(NotFound) as missing:
        team.events.get_rule("team-a", "r")
    assert missing.value.code == "RULE_NOT_FOUND"
    with pytest.raises(NotFound) as no_bus:
        team.events.put_rule("team-a", "r", {"source": ["a"]}, bus="nope")
    assert no_bus.value.code == "EVENT_BUS_NOT_FOUND"


def test_test_event_pattern_route(team: Client) -> None:
    event = {"source": "com.x", "detail": {"n": 7}}
    assert team.events.test_pattern("team-a", {"detail": {"n": [{"numeric": [">", 5]}]}}, event)
    assert not team.events.test_pattern("team-a", {"source": [{"prefix": "org."}]}, event)
    with pytest.raises(InvalidRequest) as refused:
        team.events.test_pattern("team-a", {"source": "com.x"}, event)
    assert refused.value.code == "INVALID_EVENT_PATTERN"


def test_buses(team: Client) -> None:
    assert [b["name"] for b in team.events.list_buses("team-a")] == ["default"]
    team.events.create_bus("team-a", "orders")
    with pytest.raises(Conflict):
        team.events.create_bus("team-a", "orders")
    assert [b["name"] for b in team.events.list_buses("team-a")] == ["default", "orders"]
    with pytest.raises(InvalidRequest):
        team.events.delete_bus("team-a", "default")
    team.events.delete_bus("team-a", "orders")
    with pytest.raises(NotFound):
        team.events.get_bus("team-a", "orders")


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ({"id": "a", "type": "webhook", "config": {}}, "config.url"),
        ({"id": "a", "type": "webhook", "config": {"url": "ftp://x"}}, "config.url"),
        ({"id": "a", "type": "webhook", "config": {"url": "http://x", "ssl": 1}}, "ssl"),
        (
            {"id": "a", "type": "webhook", "config": {"url": "http://x", "timeout_seconds": 99}},
            "timeout",
        ),
        ({"id": "a", "type": "email", "config": {"to": ["nobody"]}}, "config.to"),
        ({"id": "a", "type": "internal", "config": {"handler": "nope"}}, "not registered"),
        (
            {"id": "a", "type": "slack", "config": {"url": "http://x"}, "secret": "x" * 20},
            "secret",
        ),
        (
            {"id": "a", "type": "webhook", "config": {"url": "http://x"}, "input_path": "detail"},
            "JSONPath",
        ),
        (
            {
                "id": "a",
                "type": "webhook",
                "config": {"url": "http://x"},
                "input": {"a": 1},
                "input_path": "$.detail",
            },
            "at most one",
        ),
    ],
)
def test_bad_targets_are_refused(team: Client, target: dict[str, Any], fragment: str) -> None:
    team.events.put_rule("team-a", "r", {"source": ["a"]})
    with pytest.raises(InvalidRequest) as refused:
        team.events.put_targets("team-a", "r", [target])
    assert fragment in refused.value.message
    assert refused.value.code == "INVALID_TARGET"


def test_at_most_five_targets(team: Client) -> None:
    team.events.put_rule("team-a", "r", {"source": ["a"]})
    targets = [{"id": f"t{n}", "type": "internal", "config": {"handler": "log"}} for n in range(5)]
    team.events.put_targets("team-a", "r", targets)
    with pytest.raises(InvalidRequest) as refused:
        team.events.put_targets(
            "team-a", "r", [{"id": "t6", "type": "internal", "config": {"handler": "log"}}]
        )
    assert refused.value.code == "LIMIT_EXCEEDED"
    team.events.remove_target("team-a", "r", "t0")
    with pytest.raises(NotFound):
        team.events.remove_target("team-a", "r", "t0")
    assert len(team.events.list_targets("team-a", "r")) == 4


def test_webhook_secrets_are_shown_once_and_never_stored_in_the_audit(
    app: FastAPI, team: Client
) -> None:
    team.events.put_rule("team-a", "r", {"source": ["a"]})
    (made,) = team.events.put_targets(
        "team-a", "r", [{"id": "gen", "type": "webhook", "config": {"url": "http://x"}}]
    )
    assert made["secret"].startswith("whsec_") and made["has_secret"]
    given = "my-very-own-signing-secret"
    (kept,) = team.events.put_targets(
        "team-a",
        "r",
        [{"id": "own", "type": "webhook", "config": {"url": "http://x"}, "secret": given}],
    )
    assert kept["secret"] is None  # not generated, so not echoed
    listed = team.events.list_targets("team-a", "r")
    assert all(t["secret"] is None and t["has_secret"] for t in listed)
    with app.state.runtime.session_factory() as session:
        trail = " ".join(
            f"{r.request_parameters} {r.response_elements}"
            for r in session.execute(select(AuditRecord)).scalars()
        )
    assert given not in trail and made["secret"] not in trail


# --- email over SMTP ---


class _Smtp(socketserver.StreamRequestHandler):
    messages: list[bytes]

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self._say("220 test ESMTP")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line.strip().split(b" ")[0].upper()
            if verb in (b"EHLO", b"HELO"):
                self._say("250 test")
            elif verb == b"DATA":
                self._say("354 go ahead")
                data = b""
                while not data.endswith(b"\r\n.\r\n"):
                    chunk = self.rfile.readline()
                    if not chunk:
                        return
                    data += chunk
                self.server.messages.append(data)  # type: ignore[attr-defined]
                self._say("250 queued")
            elif verb == b"QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 ok")


@pytest.fixture
def smtp_server() -> Iterator[socketserver.ThreadingTCPServer]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    server.daemon_threads = True
    server.messages = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_email_target_sends_over_smtp(
    app: FastAPI, team: Client, smtp_server: socketserver.ThreadingTCPServer
) -> None:
    runtime = app.state.runtime
    port = smtp_server.server_address[1]
    events = runtime.settings.events.model_copy(update={"smtp_port": port})
    runtime.settings = runtime.settings.model_copy(update={"events": events})
    engine = Dispatcher(runtime)
    try:
        team.events.put_rule("team-a", "mail", {"source": ["com.example"]})
        team.events.put_targets(
            "team-a",
            "mail",
            [
                {
                    "id": "ops",
                    "type": "email",
                    "config": {"to": ["ops@example.com"], "subject": "heads up"},
                }
            ],
        )
        event_id = team.events.put_event("team-a", "com.example", "Drift", {"psi": 0.4})
        drain(engine, lambda: len(smtp_server.messages) == 1)  # type: ignore[attr-defined]
    finally:
        engine.close()
    message = smtp_server.messages[0].decode()  # type: ignore[attr-defined]
    assert "Subject: heads up" in message and "ops@example.com" in message
    assert event_id in message and '"psi": 0.4' in message
