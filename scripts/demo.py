"""The end-to-end demo on embedded defaults (SQLite and local files), run by `make demo`.

Starts a real server in a fresh MLGOV_HOME, bootstraps an organization, builds an org tree with
two accounts, gives a principal a role on one of them, and shows, from the CLI and the SDK, that
its key sees only what it may; then reads, queries, seals and verifies the audit trail.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

import mlgov

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".demo"
MLGOV = [str(Path(sys.executable).parent / "mlgov")]


def step(title: str) -> None:
    print(f"\n=== {title}")


def cli(*args: str, key: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLGOV_HOME": str(HOME), "MLGOV_URL": URL}
    if key:
        env["MLGOV_API_KEY"] = key
    print("$ mlgov " + " ".join(args))
    done = subprocess.run([*MLGOV, *args], env=env, capture_output=True, text=True, check=False)
    if done.stdout.strip():
        print(done.stdout.rstrip())
    if done.stderr.strip():
        print(done.stderr.rstrip())
    if check and done.returncode != 0:
        raise SystemExit(f"demo step failed: mlgov {' '.join(args)} exited {done.returncode}")
    return done


def cli_json(*args: str, key: str | None = None) -> Any:
    return json.loads(cli(*args, "--output", "json", key=key).stdout)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


PORT = free_port()
URL = f"http://127.0.0.1:{PORT}"


def main() -> None:
    shutil.rmtree(HOME, ignore_errors=True)
    HOME.mkdir()
    env = {
        **os.environ,
        "MLGOV_HOME": str(HOME),
        "MLGOV_AUDIT__DIGEST_PERIOD_SECONDS": "5",
        "MLGOV_AUDIT__SEAL_INTERVAL_SECONDS": "1",
    }

    step("Bootstrap: database schema, organization, first OrgAdmin key")
    init = subprocess.run(
        [*MLGOV, "init", "--organization", "demo-org"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    print(init.stdout.rstrip())
    admin_key = next(w for w in init.stdout.split() if w.startswith("mlgov_"))
    again = subprocess.run(
        [*MLGOV, "init", "--organization", "demo-org"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    print(again.stdout.rstrip())
    assert "mlgov_" not in again.stdout, "a second init must not print a key"

    step(f"Start the server on embedded defaults at {URL}")
    server = subprocess.Popen([*MLGOV, "server", "--port", str(PORT)], env=env)
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{URL}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit("the server did not become ready")
        run(admin_key)
    finally:
        server.terminate()
        server.wait(timeout=15)
    step("Done: the server stopped; its state is in .demo/")


def run(admin_key: str) -> None:
    step("Org tree, accounts, a principal with a role and a key (CLI, as the OrgAdmin)")
    cli("org-units", "create", "workloads", key=admin_key)
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
        key=admin_key,
    )
    cli(
        "accounts",
        "create",
        "fraud-prod",
        "--environment",
        "prod",
        "--org-unit",
        "workloads",
        key=admin_key,
    )
    cli("principals", "create", "alice", key=admin_key)
    cli("roles", "bind", "alice", "DataScientist", "--account", "fraud-dev", key=admin_key)
    alice_key = cli_json(
        "keys", "create", "--principal", "alice", "--description", "demo", key=admin_key
    )["secret"]

    step("What alice's key may see (CLI)")
    cli("principals", "whoami", key=alice_key)
    visible = [a["name"] for a in cli_json("accounts", "list", key=alice_key)]
    print(f"alice sees accounts: {visible}")
    assert visible == ["fraud-dev"], visible
    denied = cli("accounts", "get", "fraud-prod", key=alice_key, check=False)
    assert denied.returncode == 1 and "ACCESS_DENIED" in denied.stderr

    step("The same through the SDK")
    with mlgov.Client(URL, api_key=alice_key) as alice:
        print("whoami:", alice.identity.whoami()["principal_name"])
        print("accounts:", [a["name"] for a in alice.identity.list_accounts()])
        try:
            alice.identity.get_account("fraud-prod")
        except mlgov.AccessDenied as error:
            print(f"fraud-prod -> {error.code}: {error.message}")

    step("The audit trail: every call above is a record")
    cli("audit", "records", "--principal", "alice", key=admin_key)
    cli(
        "audit",
        "query",
        "SELECT principal_name, event_name, coalesce(error_code, 'ok') AS outcome, count(*) AS n "
        "FROM audit_records GROUP BY ALL ORDER BY principal_name, n DESC",
        key=admin_key,
    )
    time.sleep(6)  # let a 5-second digest period close
    cli("audit", "seal", key=admin_key)
    cli("audit", "verify", key=admin_key)


if __name__ == "__main__":
    main()
