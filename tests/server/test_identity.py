"""Tenancy and identity behaviour: bootstrap, scopes, roles, keys, org units, idempotency."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text, update

from mlgov import AccessDenied, Conflict, InvalidRequest, NotFound, Unauthenticated
from mlgov.server.db.base import utc_now
from mlgov.server.db.engine import unit_of_work
from mlgov.server.identity import service
from mlgov.server.identity.roles import ROLES
from mlgov.server.identity.tables import ApiKey
from tests.conftest import client_for


def test_bootstrap_is_safe_to_run_twice(app: FastAPI, admin_token: str) -> None:
    with unit_of_work(app.state.runtime.session_factory) as session:
        again = service.bootstrap(session, "acme")
    assert again.created is False and again.token is None
    assert client_for(app, admin_token).identity.whoami()["principal_name"] == "admin"


def test_org_unit_grant_reaches_nested_accounts(app: FastAPI, admin) -> None:  # type: ignore[no-untyped-def]
    admin.identity.create_org_unit("workloads")
    admin.identity.create_org_unit("fraud", parent="workloads")
    admin.identity.create_account("fraud-dev", "dev", org_unit="fraud")
    admin.identity.create_account("elsewhere", "dev")
    admin.identity.create_principal("lead")
    admin.identity.bind_role("lead", "Viewer", org_unit="workloads")
    lead = client_for(app, admin.identity.create_key("lead")["secret"])
    assert lead.identity.get_account("fraud-dev")["name"] == "fraud-dev"
    assert [a["name"] for a in lead.identity.list_accounts()] == ["fraud-dev"]
    with pytest.raises(AccessDenied):
        lead.identity.get_account("elsewhere")
    with pytest.raises(AccessDenied):  # Viewer reads, never writes
        lead.identity.update_account("fraud-dev", description="x")
    admin.identity.update_account("elsewhere", org_unit="fraud")  # moving brings it into reach
    assert lead.identity.get_account("elsewhere")["name"] == "elsewhere"


def test_account_admin_manages_bindings_of_its_account_only(app: FastAPI, admin) -> None:  # type: ignore[no-untyped-def]
    admin.identity.create_account("team-a", "dev")
    admin.identity.create_principal("boss")
    admin.identity.create_principal("member")
    admin.identity.bind_role("boss", "AccountAdmin", account="team-a")
    boss = client_for(app, admin.identity.create_key("boss")["secret"])
    binding = boss.identity.bind_role("member", "DataScientist", account="team-a")
    assert binding["account_id"] == admin.identity.get_account("team-a")["id"]
    with pytest.raises(AccessDenied):
        boss.identity.create_account("team-z", "dev")
    with pytest.raises(AccessDenied):
        boss.identity.bind_role("member", "Viewer", org_unit="root")
    with pytest.raises(AccessDenied):
        boss.identity.create_principal("intruder")
    boss.identity.unbind_role(binding["id"], account="team-a")
    assert next(iter(boss.identity.list_bindings(account="team-a")))["role"] == "AccountAdmin"


def test_role_catalog(admin) -> None:  # type: ignore[no-untyped-def]
    roles = {r["name"]: r for r in admin.identity.list_roles()}
    assert set(roles) == {
        "OrgAdmin",
        "AccountAdmin",
        "Approver",
        "DataScientist",
        "MLEngineer",
        "Auditor",
        "Viewer",
    }
    assert ROLES["Approver"].permits("registry:ApproveModelVersion")
    assert not ROLES["DataScientist"].permits("registry:ApproveModelVersion")
    assert ROLES["DataScientist"].permits("registry:CreateModelVersion")
    assert ROLES["Auditor"].permits("audit:QueryRecords") and not ROLES["Viewer"].permits(
        "audit:ListRecords"
    )
    assert not ROLES["AccountAdmin"].permits("identity:CreateAccount")


def test_binding_errors(admin) -> None:  # type: ignore[no-untyped-def]
    admin.identity.create_account("team-a", "dev")
    admin.identity.create_principal("p")
    admin.identity.bind_role("p", "Viewer", account="team-a")
    with pytest.raises(Conflict):
        admin.identity.bind_role("p", "Viewer", account="team-a")
    with pytest.raises(NotFound) as missing_role:
        admin.identity.bind_role("p", "Superuser", account="team-a")
    assert missing_role.value.code == "ROLE_NOT_FOUND"
    with pytest.raises(NotFound) as missing_principal:
        admin.identity.bind_role("ghost", "Viewer", account="team-a")
    assert missing_principal.value.code == "PRINCIPAL_NOT_FOUND"
    with pytest.raises(NotFound):
        admin.identity.unbind_role("rb-nope", account="team-a")


def test_keys_revoke_expire_disable(app: FastAPI, admin) -> None:  # type: ignore[no-untyped-def]
    admin.identity.create_principal("svc", type="service")
    first = admin.identity.create_key("svc", description="one")
    second = admin.identity.create_key("svc", expires_at=utc_now() + timedelta(days=1))
    svc = client_for(app, first["secret"])
    assert svc.identity.whoami()["principal_type"] == "service"
    own = svc.identity.create_key("me", description="self-service")
    assert {k["id"] for k in svc.identity.list_keys()} == {first["id"], second["id"], own["id"]}
    with pytest.raises(AccessDenied):
        list(svc.identity.list_keys("admin"))

    admin.identity.revoke_key(first["id"], principal="svc")
    with pytest.raises(Unauthenticated, match="revoked"):
        svc.identity.whoami()
    statuses = {k["id"]: k["status"] for k in admin.identity.list_keys("svc")}
    assert statuses[first["id"]] == "revoked" and statuses[second["id"]] == "active"

    assert client_for(app, second["secret"]).identity.whoami()["principal_name"] == "svc"
    with unit_of_work(app.state.runtime.session_factory) as session:  # a bulk write, no objects
        session.execute(
            update(ApiKey)
            .where(ApiKey.id == second["id"])
            .values(expires_at=utc_now() - timedelta(seconds=1))
        )
    with pytest.raises(Unauthenticated, match="expired"):
        client_for(app, second["secret"]).identity.whoami()

    admin.identity.update_principal("svc", disabled=True)
    with pytest.raises(Unauthenticated, match="disabled"):
        client_for(app, own["secret"]).identity.whoami()
    with pytest.raises(InvalidRequest, match="past"):
        admin.identity.create_key("svc", expires_at=utc_now() - timedelta(days=1))
    with pytest.raises(NotFound):
        admin.identity.revoke_key("key-nope", principal="svc")


def test_secrets_are_stored_hashed(app: FastAPI, admin) -> None:  # type: ignore[no-untyped-def]
    key = admin.identity.create_key("me")
    secret = key["secret"].split(".", 1)[1]
    with app.state.runtime.session_factory() as session:
        stored = " ".join(
            str(v) for row in session.execute(text("SELECT * FROM api_keys")) for v in row
        )
    assert secret not in stored
    assert service.hash_secret(secret) in stored


def test_org_unit_rules(admin) -> None:  # type: ignore[no-untyped-def]
    admin.identity.create_org_unit("workloads")
    with pytest.raises(Conflict) as duplicate:
        admin.identity.create_org_unit("workloads")
    assert duplicate.value.code == "ALREADY_EXISTS"
    admin.identity.create_account("team-a", "dev", org_unit="workloads")
    with pytest.raises(Conflict) as not_empty:
        admin.identity.delete_org_unit("workloads")
    assert not_empty.value.code == "ORG_UNIT_NOT_EMPTY"
    with pytest.raises(InvalidRequest):
        admin.identity.delete_org_unit("root")
    with pytest.raises(NotFound) as missing:
        admin.identity.create_account("team-b", "dev", org_unit="nowhere")
    assert missing.value.code == "ORG_UNIT_NOT_FOUND"
    renamed = admin.identity.update_org_unit("workloads", name="work")
    assert admin.identity.get_org_unit("work")["id"] == renamed["id"]
    with pytest.raises(Conflict):
        admin.identity.create_account("team-a", "prod")


def test_idempotency_key_replays_and_refuses_reuse(admin) -> None:  # type: ignore[no-untyped-def]
    first = admin.identity.create_account("team-a", "dev", idempotency_key="req-1")
    replay = admin.identity.create_account("team-a", "dev", idempotency_key="req-1")
    assert replay == first
    assert [a["name"] for a in admin.identity.list_accounts()] == ["team-a"]
    with pytest.raises(Conflict) as reused:
        admin.identity.create_account("team-b", "dev", idempotency_key="req-1")
    assert reused.value.code == "IDEMPOTENCY_KEY_REUSED"
    other = admin.identity.create_org_unit("ou", idempotency_key="req-2")
    assert admin.identity.create_org_unit("ou", idempotency_key="req-2") == other


def test_health_and_readiness(http: TestClient) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").json() == {"status": "ready"}
    spec = http.get("/api/v1/openapi.json").json()
    operation_ids = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert {"CreateAccount", "ListRecords", "QueryRecords", "VerifyTrail"} <= operation_ids
