from __future__ import annotations

from fastapi import FastAPI

from tests.conftest import client_for


def test_org_tree_accounts_principal_key_and_scoped_reads(app: FastAPI, admin) -> None:  # type: ignore[no-untyped-def]
    ou = admin.identity.create_org_unit("workloads")
    dev = admin.identity.create_account(
        "fraud-dev", "dev", org_unit="workloads", labels={"team": "fraud"}
    )
    prod = admin.identity.create_account("fraud-prod", "prod", org_unit=ou["id"])
    alice = admin.identity.create_principal("alice", email="alice@example.com")
    admin.identity.bind_role("alice", "DataScientist", account="fraud-dev")
    key = admin.identity.create_key("alice", description="laptop")
    assert key["secret"].startswith("mlgov_")

    alice_client = client_for(app, key["secret"])
    me = alice_client.identity.whoami()
    assert me["principal_id"] == alice["id"]
    visible = [a["name"] for a in alice_client.identity.list_accounts()]
    assert visible == ["fraud-dev"]
    assert alice_client.identity.get_account("fraud-dev")["id"] == dev["id"]
    import pytest

    from mlgov import AccessDenied

    with pytest.raises(AccessDenied):
        alice_client.identity.get_account(prod["name"])
    with pytest.raises(AccessDenied):
        alice_client.identity.get_account("no-such-account")


def test_readiness_fails_on_an_out_of_date_schema(app: FastAPI) -> None:
    from fastapi.testclient import TestClient
    from sqlalchemy import text

    http = TestClient(app, raise_server_exceptions=False)
    assert http.get("/readyz").status_code == 200
    with app.state.runtime.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    answer = http.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "NOT_READY"
    assert "mlgov db upgrade" in answer.json()["error"]["message"]
    assert http.get("/healthz").status_code == 200  # alive, just not ready
