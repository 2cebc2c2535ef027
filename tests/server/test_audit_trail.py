"""Audit contract: one record per call, the right outcome, secrets redacted, SQL, filters."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from mlgov import InvalidRequest, NotFound
from mlgov.server.audit.tables import AuditRecord
from tests.conftest import client_for
from tests.server.routes import api_routes, build_world, method_of


def _records(app: FastAPI) -> list[AuditRecord]:
    with app.state.runtime.session_factory() as session:
        return list(session.execute(select(AuditRecord).order_by(AuditRecord.sequence)).scalars())


def _count(app: FastAPI) -> int:
    with app.state.runtime.session_factory() as session:
        return int(session.execute(select(func.count()).select_from(AuditRecord)).scalar_one())


def test_every_route_called_once_writes_exactly_one_record(
    app: FastAPI, admin, admin_token: str
) -> None:  # type: ignore[no-untyped-def]
    world = build_world(admin)
    http = TestClient(app, raise_server_exceptions=False)
    headers = {"authorization": f"Bearer {admin_token}"}
    routes = api_routes(app)
    assert len(routes) >= 25
    for route in routes:
        path = world.path_for(route)
        body = world.body_for(route)
        before = _count(app)
        response = http.request(method_of(route), path, json=body, headers=headers)
        assert response.status_code < 400, (route.path, response.text)
        records = _records(app)
        assert len(records) == before + 1, route.path
        newest = records[-1]
        assert newest.action == route.action.name, route.path
        assert newest.error_code is None
        assert newest.http_status == response.status_code
        assert newest.request_id == response.headers["x-request-id"]


def test_denied_invalid_and_unauthenticated_calls_are_recorded(app: FastAPI, admin) -> None:  # type: ignore[no-untyped-def]
    admin.identity.create_account("team-a", "dev")
    viewer = admin.identity.create_principal("viewer")
    admin.identity.bind_role("viewer", "Viewer", account="team-a")
    viewer_key = admin.identity.create_key("viewer")["secret"]
    http = TestClient(app, raise_server_exceptions=False)

    denied = http.post(
        "/api/v1/accounts",
        json={"name": "x", "environment": "dev"},
        headers={"authorization": f"Bearer {viewer_key}"},
    )
    anonymous = http.get("/api/v1/accounts/team-a")
    invalid = http.post(
        "/api/v1/accounts",
        content=b"{not json",
        headers={"authorization": f"Bearer {viewer_key}", "content-type": "application/json"},
    )
    assert (denied.status_code, anonymous.status_code, invalid.status_code) == (403, 401, 400)

    *_, r_denied, r_anonymous, r_invalid = _records(app)
    assert (r_denied.error_code, r_denied.principal_id, r_denied.action) == (
        "ACCESS_DENIED",
        viewer["id"],
        "identity:CreateAccount",
    )
    assert (r_anonymous.error_code, r_anonymous.principal_id) == ("UNAUTHENTICATED", None)
    assert r_anonymous.event_name == "DescribeAccount" and r_anonymous.read_only
    assert r_invalid.error_code in ("MALFORMED_REQUEST_BODY", "ACCESS_DENIED")


def test_a_rolled_back_change_leaves_only_a_failure_record(
    app: FastAPI, admin, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from mlgov.server.identity import service

    original = service.create_account

    def create_then_crash(session, data):  # type: ignore[no-untyped-def]
        original(session, data)  # flushed into the transaction...
        raise RuntimeError("disk on fire")  # ...then the request fails

    monkeypatch.setattr(service, "create_account", create_then_crash)
    http = TestClient(app, raise_server_exceptions=False)
    response = http.post(
        "/api/v1/accounts",
        json={"name": "ghost", "environment": "dev"},
        headers={"authorization": admin._transport.http.headers["authorization"]},
    )
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "INTERNAL_ERROR"
    assert "disk on fire" not in response.text
    monkeypatch.setattr(service, "create_account", original)
    assert [a["name"] for a in admin.identity.list_accounts()] == []
    record = [r for r in _records(app) if r.action == "identity:CreateAccount"][-1]
    assert record.error_code == "INTERNAL_ERROR" and record.response_elements is None


def test_record_shape_and_redaction(app: FastAPI, admin) -> None:  # type: ignore[no-untyped-def]
    account = admin.identity.create_account("team-a", "dev", labels={"cost-center": "42"})
    key = admin.identity.create_key("me", description="ci")
    events = list(admin.audit.records(action="identity:CreateAccount"))
    assert len(events) == 1
    event = events[0]
    assert event["eventVersion"] == "1.11"
    assert event["eventSource"] == "identity.mlgov" and event["eventName"] == "CreateAccount"
    assert event["userIdentity"]["userName"] == "admin"
    assert event["userIdentity"]["type"] == "User"
    assert event["requestParameters"]["body"]["labels"] == {"cost-center": "42"}
    assert event["responseElements"]["id"] == account["id"]
    assert event["readOnly"] is False and event["errorCode"] is None
    assert event["sourceIPAddress"] and event["requestID"]
    with app.state.runtime.session_factory() as session:
        dump = json.dumps(
            [list(row) for row in session.execute(text("SELECT * FROM audit_records"))], default=str
        )
    secret = key["secret"].split(".", 1)[1]
    assert secret not in dump
    key_record = [r for r in _records(app) if r.action == "identity:CreateApiKey"][-1]
    assert json.loads(key_record.response_elements or "{}")["secret"] == "***"


def test_filters_and_pagination(app: FastAPI, admin) -> None:  # type: ignore[no-untyped-def]
    for n in range(5):
        admin.identity.create_org_unit(f"ou-{n}")
    with pytest.raises(NotFound):
        admin.identity.get_account("missing")
    created = list(admin.audit.records(action="CreateOrgUnit", page_size=2))
    assert [e["requestParameters"]["body"]["name"] for e in created] == [
        f"ou-{n}" for n in range(5)
    ]
    failed = list(admin.audit.records(outcome="failed"))
    assert [e["errorCode"] for e in failed] == ["ACCOUNT_NOT_FOUND"]
    assert all(e["errorCode"] is None for e in admin.audit.records(outcome="success"))
    assert list(admin.audit.records(principal="nobody")) == []


def test_sql_query_over_records(app: FastAPI, admin) -> None:  # type: ignore[no-untyped-def]
    admin.identity.create_account("team-a", "dev")
    admin.identity.create_account("team-b", "dev")
    result = admin.audit.query(
        "SELECT event_name, count(*) AS n FROM audit_records "
        "WHERE event_name LIKE 'Create%' GROUP BY 1 ORDER BY 1"
    )
    assert result["columns"] == ["event_name", "n"]
    assert result["rows"] == [["CreateAccount", 2]]
    extracted = admin.audit.query(
        "SELECT json_extract_string(request_parameters, '$.body.name') AS name FROM audit_records "
        "WHERE event_name = 'CreateAccount' ORDER BY sequence"
    )
    assert extracted["rows"] == [["team-a"], ["team-b"]]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "COPY (SELECT 1) TO '/tmp/mlgov-escape.csv'",
        "SELECT 1; SELECT 2",
        "DROP TABLE audit_records",
        "SET enable_external_access = true",
        "SELECT * FROM no_such_table",
        "SELEC nonsense",
    ],
)
def test_sql_query_is_sandboxed(admin, sql: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidRequest) as caught:
        admin.audit.query(sql)
    assert caught.value.code == "INVALID_QUERY"


def test_account_auditor_sees_only_its_accounts_records(app: FastAPI, admin) -> None:  # type: ignore[no-untyped-def]
    admin.identity.create_account("team-a", "dev")
    admin.identity.create_account("team-b", "dev")
    admin.identity.update_account("team-a", description="touched")
    admin.identity.update_account("team-b", description="touched")
    admin.identity.create_principal("auditor-a")
    admin.identity.bind_role("auditor-a", "Auditor", account="team-a")
    auditor = client_for(app, admin.identity.create_key("auditor-a")["secret"])
    a_id = admin.identity.get_account("team-a")["id"]
    seen = {e["recipientAccountId"] for e in auditor.audit.records()}
    assert seen == {a_id}
    rows = auditor.audit.query("SELECT DISTINCT account_id FROM audit_records")["rows"]
    assert rows == [[a_id]]
