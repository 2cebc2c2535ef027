"""``mlgov audit``: records, SQL in three formats, verification exit codes, digests, public key."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import update

from mlgov.server.audit import service as audit_service
from mlgov.server.audit.tables import AuditRecord
from mlgov.server.db.engine import unit_of_work
from mlgov.settings import AuditSettings, DatabaseSettings, Settings
from tests.cli.conftest import Cli


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    # One-second digest periods, so `audit seal` has closed periods to seal within the test.
    return Settings(
        home=tmp_path / "home",
        database=DatabaseSettings(url=database_url, pool_size=4),
        audit=AuditSettings(digest_period_seconds=1),
    )


def as_json(text: str) -> Any:
    return json.loads(text)


def some_activity(cli: Cli) -> None:
    cli("org-units", "create", "workloads")
    cli("accounts", "create", "team-a", "--environment", "dev", "--org-unit", "workloads")
    cli("accounts", "get", "missing", code=1)


def test_records_filters_and_formats(cli: Cli) -> None:
    some_activity(cli)
    created = as_json(
        cli("audit", "records", "--action", "identity:CreateAccount", "-o", "json").stdout
    )
    assert len(created) == 1
    assert created[0]["eventName"] and created[0]["userIdentity"]["userName"] == "admin"
    failed = as_json(cli("audit", "records", "--outcome", "failed", "-o", "json").stdout)
    assert [r["errorCode"] for r in failed] == ["ACCOUNT_NOT_FOUND"]
    assert as_json(cli("audit", "records", "--account", "team-a", "-o", "json").stdout) == []
    assert as_json(cli("audit", "records", "--principal", "nobody", "-o", "json").stdout) == []
    by_admin = as_json(cli("audit", "records", "--principal", "admin", "-o", "json").stdout)
    assert len(by_admin) >= 3

    everything = as_json(cli("audit", "records", "--since", "1h", "-o", "json").stdout)
    assert len(everything) >= 3
    assert as_json(cli("audit", "records", "--until", "2001-01-01", "-o", "json").stdout) == []
    limited = as_json(cli("audit", "records", "--limit", "2", "-o", "json").stdout)
    assert [r["eventID"] for r in limited] == [r["eventID"] for r in everything[:2]]

    table = cli("audit", "records", "--outcome", "failed").stdout
    assert "ACCOUNT_NOT_FOUND" in table and "identity:DescribeAccount" in table
    bad = cli("audit", "records", "--outcome", "maybe", code=1)
    assert bad.stderr.startswith("ERROR INVALID_REQUEST: ")
    cli("audit", "records", "--since", "yesterday-ish", code=2)


def test_query_csv_json_table(cli: Cli) -> None:
    some_activity(cli)
    sql = (
        "SELECT action, count(*) AS n FROM audit_records "
        "WHERE action LIKE 'identity:Create%' GROUP BY action ORDER BY action"
    )
    out = cli("audit", "query", sql, "-o", "csv").stdout
    rows = list(csv.reader(io.StringIO(out)))
    assert rows == [
        ["action", "n"],
        ["identity:CreateAccount", "1"],
        ["identity:CreateOrgUnit", "1"],
    ]
    assert as_json(cli("audit", "query", sql, "-o", "json").stdout) == [
        {"action": "identity:CreateAccount", "n": 1},
        {"action": "identity:CreateOrgUnit", "n": 1},
    ]
    assert "identity:CreateOrgUnit" in cli("audit", "query", sql).stdout

    # NULLs are empty CSV fields, not the text "None".
    nulls = cli("audit", "query", "SELECT error_code FROM audit_records LIMIT 1", "-o", "csv")
    assert list(csv.reader(io.StringIO(nulls.stdout))) == [["error_code"], [""]]

    capped = cli(
        "audit", "query", "SELECT sequence FROM audit_records", "--max-rows", "1", "-o", "json"
    )
    assert len(as_json(capped.stdout)) == 1 and "only the first 1 rows" in capped.stderr
    bad = cli("audit", "query", "DELETE FROM audit_records", code=1)
    assert bad.stderr.startswith("ERROR INVALID_QUERY: ")


def test_verify_exit_codes_and_tamper(cli: Cli, app: FastAPI) -> None:
    some_activity(cli)
    ok = cli("audit", "verify")
    assert "records_checked" in ok.stdout and "valid" in ok.stdout
    report = as_json(cli("audit", "verify", "-o", "json").stdout)
    assert report["valid"] is True and report["first_problem"] is None

    with unit_of_work(app.state.runtime.session_factory) as session:
        session.execute(
            update(AuditRecord).where(AuditRecord.sequence == 2).values(principal_name="mallory")
        )
    broken = cli("audit", "verify", code=1)
    assert "first problem: edited at record 2" in broken.stdout
    assert broken.stderr.startswith("ERROR AUDIT_TRAIL_INVALID: ")
    report = as_json(cli("audit", "verify", "-o", "json", code=1).stdout)
    assert report["valid"] is False and report["first_problem"]["sequence"] == 2


def test_verify_seal_digests_need_an_organization_wide_role(cli: Cli) -> None:
    cli("accounts", "create", "team-a", "--environment", "dev")
    cli("principals", "create", "viewer")
    cli("roles", "bind", "viewer", "Viewer", "--account", "team-a")
    secret = as_json(cli("keys", "create", "--principal", "viewer", "-o", "json").stdout)["secret"]
    for command in ("verify", "seal", "digests"):
        denied = cli("audit", command, key=secret, code=1)
        assert denied.stderr.startswith("ERROR ACCESS_DENIED: ")
    # Anyone signed in may fetch the public key; nobody else.
    assert "BEGIN PUBLIC KEY" in cli("audit", "public-key", key=secret).stdout
    anonymous = cli("audit", "public-key", key="mlgov_key-x.y", code=1)
    assert anonymous.stderr.startswith("ERROR UNAUTHENTICATED: ")


def test_seal_digests_and_public_key(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the grace period a one-second period closes one second later, not six.
    monkeypatch.setattr(audit_service, "SEAL_GRACE", timedelta(0))
    some_activity(cli)
    time.sleep(1.05)
    sealed = as_json(cli("audit", "seal", "-o", "json").stdout)
    assert sealed and sum(d["record_count"] for d in sealed) >= 3
    listed = as_json(cli("audit", "digests", "-o", "json").stdout)
    assert [d["id"] for d in listed] == [d["id"] for d in sealed]
    assert "PERIOD START" in cli("audit", "digests").stdout
    assert as_json(cli("audit", "verify", "-o", "json").stdout)["digests_checked"] == len(sealed)

    key = as_json(cli("audit", "public-key", "-o", "json").stdout)
    assert key["fingerprint"] == sealed[0]["public_key_fingerprint"]
    pem = cli("audit", "public-key")
    assert pem.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    assert pem.stdout.strip().endswith("-----END PUBLIC KEY-----")
    assert key["fingerprint"] in pem.stderr
