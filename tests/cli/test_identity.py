"""org-units, accounts, principals, keys and roles through the CLI, against the app in-process."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from typer.testing import Result

from tests.cli.conftest import Cli


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def test_full_flow_key_sees_only_its_account(cli: Cli) -> None:
    cli("org-units", "create", "workloads", "--description", "team workloads")
    cli(
        "accounts",
        "create",
        "fraud-dev",
        "--environment",
        "dev",
        "--org-unit",
        "workloads",
        "--label",
        "team=fraud",
        "--label",
        "tier=2",
    )
    cli("accounts", "create", "fraud-prod", "--environment", "prod", "--org-unit", "workloads")
    alice = as_json(cli("principals", "create", "alice", "--email", "a@example.com", "-o", "json"))
    assert isinstance(alice, dict) and alice["name"] == "alice"
    binding = as_json(
        cli("roles", "bind", "alice", "DataScientist", "--account", "fraud-dev", "-o", "json")
    )
    assert isinstance(binding, dict) and binding["role"] == "DataScientist"

    created = cli("keys", "create", "--principal", "alice", "--description", "laptop")
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("mlgov_")
    assert "only time" in created.stderr

    seen = as_json(cli("accounts", "list", "-o", "json", key=secret))
    assert [a["name"] for a in seen] == ["fraud-dev"]
    assert seen[0]["labels"] == {"team": "fraud", "tier": "2"}
    table = cli("accounts", "list", key=secret).stdout
    assert "fraud-dev" in table and "fraud-prod" not in table
    denied = cli("accounts", "get", "fraud-prod", key=secret, code=1)
    assert denied.stderr.startswith("ERROR ACCESS_DENIED: ")

    me = as_json(cli("principals", "whoami", "-o", "json", key=secret))
    assert me["principal_id"] == alice["id"]
    # Everything the admin sees, the admin lists.
    assert len(as_json(cli("accounts", "list", "-o", "json"))) == 2


def test_org_units_crud_and_tree_paths(cli: Cli) -> None:
    parent = as_json(cli("org-units", "create", "workloads", "-o", "json"))
    child = as_json(cli("org-units", "create", "ml", "--parent", "workloads", "-o", "json"))
    assert child["parent_id"] == parent["id"]

    listing = as_json(cli("org-units", "list", "-o", "json"))
    assert {u["name"] for u in listing} == {"root", "workloads", "ml"}
    assert "/root/workloads/ml" in cli("org-units", "list").stdout

    got = as_json(cli("org-units", "get", "ml", "-o", "json"))
    assert got["id"] == child["id"]
    renamed = as_json(cli("org-units", "update", "ml", "--name", "ml-platform", "-o", "json"))
    assert renamed["name"] == "ml-platform"
    cli("org-units", "update", "ml-platform", code=2)  # nothing to change

    refused = cli("org-units", "delete", "workloads", code=1)
    assert refused.stderr.startswith("ERROR ORG_UNIT_NOT_EMPTY: ")
    deleted = cli("org-units", "delete", "ml-platform")
    assert "deleted org unit ml-platform" in deleted.stderr
    assert cli("org-units", "get", "ml-platform", code=1).stderr.startswith(
        "ERROR ORG_UNIT_NOT_FOUND: "
    )


def test_accounts_filters_and_label_updates(cli: Cli) -> None:
    cli("org-units", "create", "workloads")
    cli("org-units", "create", "shared-services")
    cli(
        "accounts",
        "create",
        "a-dev",
        "--environment",
        "dev",
        "--org-unit",
        "workloads",
        "--label",
        "team=a",
        "--label",
        "cost=1",
    )
    cli("accounts", "create", "a-prod", "--environment", "prod", "--org-unit", "workloads")
    cli("accounts", "create", "tools", "--environment", "shared")

    def names(*args: str) -> list[str]:
        return sorted(a["name"] for a in as_json(cli("accounts", "list", *args, "-o", "json")))

    assert names("--environment", "prod") == ["a-prod"]
    assert names("--org-unit", "workloads") == ["a-dev", "a-prod"]

    updated = as_json(
        cli(
            "accounts",
            "update",
            "a-dev",
            "--label",
            "team=b",
            "--label",
            "new=x",
            "--remove-label",
            "cost",
            "--description",
            "moved",
            "--org-unit",
            "shared-services",
            "-o",
            "json",
        )
    )
    assert updated["labels"] == {"team": "b", "new": "x"}
    assert updated["description"] == "moved"
    assert names("--org-unit", "shared-services") == ["a-dev"]

    cli("accounts", "update", "a-dev", code=2)  # nothing to change
    bad_label = cli(
        "accounts", "create", "b-dev", "--environment", "dev", "--label", "oops", code=2
    )
    assert "KEY=VALUE" in bad_label.stderr
    bad_env = cli("accounts", "create", "b-dev", "--environment", "moon", code=1)
    assert bad_env.stderr.startswith("ERROR INVALID_REQUEST: ")
    dup = cli("accounts", "create", "a-dev", "--environment", "dev", code=1)
    assert dup.stderr.startswith("ERROR ALREADY_EXISTS: ")


def test_principals_disable_enable_cuts_off_keys(cli: Cli) -> None:
    cli("accounts", "create", "ci-dev", "--environment", "dev")
    svc = as_json(
        cli(
            "principals",
            "create",
            "ci-bot",
            "--type",
            "service",
            "--account",
            "ci-dev",
            "-o",
            "json",
        )
    )
    assert svc["type"] == "service" and svc["account_id"]
    cli("roles", "bind", "ci-bot", "Viewer", "--account", "ci-dev")
    secret = as_json(cli("keys", "create", "--principal", "ci-bot", "-o", "json"))["secret"]

    homed = as_json(cli("principals", "list", "--account", "ci-dev", "-o", "json"))
    assert [p["name"] for p in homed] == ["ci-bot"]
    assert "ci-bot" in cli("principals", "list").stdout
    assert as_json(cli("principals", "get", "-o", "json", key=secret))["name"] == "ci-bot"
    assert as_json(cli("principals", "get", "admin", "-o", "json"))["name"] == "admin"

    disabled = as_json(cli("principals", "disable", "ci-bot", "-o", "json"))
    assert disabled["disabled"] is True
    assert cli("principals", "whoami", key=secret, code=1).stderr.startswith(
        "ERROR UNAUTHENTICATED: "
    )
    cli("principals", "enable", "ci-bot")
    assert "ci-bot" in cli("principals", "whoami", key=secret).stdout
    cli("principals", "create", "bad", "--type", "robot", code=2)
    cli("principals", "disable", "nobody", code=1)


def test_keys_expiry_list_and_revoke(cli: Cli) -> None:
    cli("principals", "create", "bob")
    cli("roles", "bind", "bob", "Viewer", "--org-unit", "root")
    soon = as_json(cli("keys", "create", "--principal", "bob", "--expires-at", "2d", "-o", "json"))
    expires = datetime.fromisoformat(soon["expires_at"])
    assert timedelta(days=1) < expires - datetime.now(UTC) < timedelta(days=3)
    iso = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S")
    other = as_json(cli("keys", "create", "--principal", "bob", "--expires-at", iso, "-o", "json"))

    listed = as_json(cli("keys", "list", "--principal", "bob", "-o", "json"))
    assert {k["id"] for k in listed} == {soon["id"], other["id"]}
    assert all("secret" not in k for k in listed)
    # A listing never carries a secret, in either format.
    assert soon["secret"] not in cli("keys", "list", "--principal", "bob").stdout

    revoked = cli("keys", "revoke", soon["id"], "--principal", "bob")
    assert "revoked" in revoked.stderr
    statuses = {
        k["id"]: k["status"]
        for k in as_json(cli("keys", "list", "--principal", "bob", "-o", "json"))
    }
    assert statuses[soon["id"]] == "revoked"
    assert cli("principals", "whoami", key=soon["secret"], code=1).stderr.startswith(
        "ERROR UNAUTHENTICATED: "
    )
    # The caller's own keys by default: the admin has its bootstrap key.
    assert len(as_json(cli("keys", "list", "-o", "json"))) == 1

    past = cli("keys", "create", "--expires-at", "2001-01-01T00:00:00Z", code=1)
    assert past.stderr.startswith("ERROR INVALID_REQUEST: ")
    assert "not a time" in cli("keys", "create", "--expires-at", "soonish", code=2).stderr
    missing = cli("keys", "revoke", "key_nope", "--principal", "bob", code=1)
    assert missing.stderr.startswith("ERROR API_KEY_NOT_FOUND: ")


def test_roles_list_bind_bindings_unbind(cli: Cli) -> None:
    roles = as_json(cli("roles", "list", "-o", "json"))
    names = {r["name"] for r in roles}
    assert {"OrgAdmin", "Auditor", "Viewer", "DataScientist"} <= names
    assert "OrgAdmin" in cli("roles", "list").stdout

    cli("org-units", "create", "workloads")
    cli("accounts", "create", "x-dev", "--environment", "dev", "--org-unit", "workloads")
    carol = as_json(cli("principals", "create", "carol", "-o", "json"))
    on_account = as_json(
        cli("roles", "bind", "carol", "Viewer", "--account", "x-dev", "-o", "json")
    )
    on_ou = as_json(
        cli("roles", "bind", "carol", "Auditor", "--org-unit", "workloads", "-o", "json")
    )

    def ids(*args: str) -> set[str]:
        return {b["id"] for b in as_json(cli("roles", "bindings", *args, "-o", "json"))}

    assert ids("--principal", "carol") == {on_account["id"], on_ou["id"]}
    assert ids("--account", "x-dev") == {on_account["id"]}
    assert ids("--org-unit", "workloads") == {on_ou["id"]}
    assert carol["id"] in cli("roles", "bindings", "--principal", "carol").stdout

    both = cli(
        "roles", "bind", "carol", "Viewer", "--account", "x-dev", "--org-unit", "root", code=2
    )
    assert both.stderr.startswith("ERROR INVALID_USAGE: give exactly one of --account | --org-unit")
    cli("roles", "bind", "carol", "Viewer", code=2)
    cli("roles", "bindings", code=2)
    unknown = cli("roles", "bind", "carol", "Overlord", "--account", "x-dev", code=1)
    assert unknown.stderr.startswith("ERROR ROLE_NOT_FOUND: ")

    # A binding is removed from the scope it is on, and only there.
    wrong_scope = cli("roles", "unbind", on_ou["id"], "--account", "x-dev", code=1)
    assert wrong_scope.stderr.startswith("ERROR ROLE_BINDING_NOT_FOUND: ")
    cli("roles", "unbind", on_ou["id"], "--org-unit", "workloads")
    assert ids("--principal", "carol") == {on_account["id"]}
