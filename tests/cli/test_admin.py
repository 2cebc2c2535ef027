"""Server-side commands: init, db, server and worker, on the database named by the environment."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlgov.cli import _connection
from mlgov.server.workers import build_workers
from tests.cli.conftest import Cli


def db_env(url: str) -> dict[str, str]:
    return {"MLGOV_DATABASE__URL": url}


def test_init_twice_on_the_default_home_database(bare_cli: Cli, home: Path) -> None:
    first = bare_cli("init", "--organization", "acme")
    assert (home / "mlgov.db").exists()
    assert "Created organization acme" in first.stdout
    assert "shown this once" in first.stdout and "cannot be shown again" in first.stdout
    key = next(line.strip() for line in first.stdout.splitlines() if "mlgov_" in line)
    assert key.startswith("mlgov_key-")

    second = bare_cli("init", "--organization", "acme")
    assert "already exists" in second.stdout
    assert "mlgov_" not in second.stdout + second.stderr
    assert not (home / "config.toml").exists()


def test_init_never_loses_the_key_to_a_profile_problem(
    bare_cli: Cli, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = home / "config.toml"
    config.write_text("[profiles.default\n")
    refused = bare_cli("init", "--save-profile", "default", code=2)
    assert refused.stderr.startswith("ERROR INVALID_CONFIG: ")
    assert not (home / "mlgov.db").exists()  # checked before anything was created

    config.unlink()

    def disk_full(*_: object, **__: object) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_connection, "save_profile", disk_full)
    failed = bare_cli("init", "--save-profile", "default", code=1)
    assert "mlgov_key-" in failed.stdout
    assert failed.stderr.startswith("ERROR PROFILE_NOT_SAVED: ")
    assert "No space left on device" in failed.stderr


def test_init_upgrades_then_bootstraps_once(
    bare_cli: Cli, empty_database_url: str, home: Path
) -> None:
    env = db_env(empty_database_url)
    bare_cli("db", "check", env=env, code=1)
    first = json.loads(
        bare_cli(
            "init",
            "--admin",
            "root-admin",
            "--save-profile",
            "ops",
            "-o",
            "json",
            "--url",
            "http://mlgov.internal:8640",
            env=env,
        ).stdout
    )
    assert first["created"] is True and first["admin"]["name"] == "root-admin"
    assert first["api_key"].startswith("mlgov_") and first["profile"] == "ops"
    bare_cli("db", "check", env=env)

    config = home / "config.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    saved = tomllib.loads(config.read_text())["profiles"]["ops"]
    assert saved == {"url": "http://mlgov.internal:8640", "api_key": first["api_key"]}

    again = bare_cli("init", "--admin", "root-admin", "--save-profile", "other", env=env)
    assert "already exists" in again.stdout and "mlgov_" not in again.stdout
    assert "profile other was not written" in again.stderr
    assert set(tomllib.loads(config.read_text())["profiles"]) == {"ops"}
    repeat = json.loads(bare_cli("init", "--admin", "root-admin", "-o", "json", env=env).stdout)
    assert repeat == {"created": False, "organization": first["organization"], "api_key": None}

    # An organization exists, but not with that admin: refuse rather than mint a stray key.
    other = bare_cli("init", "--admin", "someone-else", env=env, code=1)
    assert other.stderr.startswith("ERROR CONFLICT: ")


def test_db_commands_on_an_unmigrated_database(bare_cli: Cli, empty_database_url: str) -> None:
    env = db_env(empty_database_url)
    check = bare_cli("db", "check", env=env, code=1)
    assert check.stderr.startswith("ERROR SCHEMA_OUT_OF_DATE: ")
    assert "mlgov db upgrade" in check.stderr

    current = json.loads(bare_cli("db", "current", "-o", "json", env=env).stdout)
    assert current["current"] == [] and current["up_to_date"] is False
    assert len(current["required"]) == 1
    assert "up_to_date" in bare_cli("db", "current", env=env).stdout

    upgraded = bare_cli("db", "upgrade", env=env)
    assert f"from empty to {current['required'][0]}" in upgraded.stdout
    assert "already at" in bare_cli("db", "upgrade", env=env).stdout
    assert "up to date" in bare_cli("db", "check", env=env).stderr
    after = json.loads(bare_cli("db", "current", "-o", "json", env=env).stdout)
    assert after["current"] == after["required"] and after["up_to_date"] is True


def test_unreachable_database_is_one_line_without_the_password(bare_cli: Cli) -> None:
    url = "postgresql://mlgov:hunter2@127.0.0.1:1/mlgov"
    failed = bare_cli("db", "check", env=db_env(url), code=1)
    assert failed.stderr.startswith("ERROR DATABASE_UNAVAILABLE: ")
    assert "hunter2" not in failed.stderr and "***" in failed.stderr
    bad_setting = bare_cli("db", "check", env={"MLGOV_SERVER__PORT": "not-a-port"}, code=2)
    assert bad_setting.stderr.startswith("ERROR INVALID_CONFIG: ")
    assert "MLGOV_SERVER__PORT" in bad_setting.stderr


def test_server_refuses_an_old_schema(bare_cli: Cli, empty_database_url: str) -> None:
    refused = bare_cli("server", env=db_env(empty_database_url), code=1)
    assert refused.stderr.startswith("ERROR SCHEMA_OUT_OF_DATE: ")
    assert "mlgov db upgrade" in refused.stderr


def test_server_hands_the_app_to_uvicorn(
    bare_cli: Cli, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    bare_cli("server", "--host", "0.0.0.0", "--port", "9123", env=db_env(database_url))
    assert calls[0]["host"] == "0.0.0.0" and calls[0]["port"] == 9123
    assert calls[0]["app"].state.runtime.settings.database_url == database_url
    calls[0]["app"].state.runtime.engine.dispose()

    bare_cli("server", env={**db_env(database_url), "MLGOV_SERVER__PORT": "9124"})
    assert calls[1]["host"] == "127.0.0.1" and calls[1]["port"] == 9124
    calls[1]["app"].state.runtime.engine.dispose()
    bare_cli("server", "--port", "70000", env=db_env(database_url), code=2)


class Probe:
    """A worker that records its lifecycle and, once started, asks the process to stop."""

    name = "probe"

    def __init__(self, events: list[str]) -> None:
        self.events = events

    def start(self) -> None:
        self.events.append("start")
        os.kill(os.getpid(), signal.SIGTERM)

    def stop(self) -> None:
        self.events.append("stop")


def test_worker_runs_until_sigterm(
    bare_cli: Cli, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    monkeypatch.setattr(
        "mlgov.server.workers.build_workers",
        lambda runtime: [*build_workers(runtime), Probe(events)],
    )
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    result = bare_cli("worker", env=db_env(database_url))
    assert events == ["start", "stop"]
    # The console may wrap the list of workers: read it as one line.
    running = " ".join(result.stderr.split()).partition("running")[2].partition("stopped")[0]
    assert all(name in running for name in ("audit-sealer", "event-dispatcher", "probe"))
    assert ("wal-checkpointer" in running) == database_url.startswith("sqlite")
    assert "received SIGTERM" in result.stderr and "stopped" in result.stderr
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_worker_refuses_an_old_schema(bare_cli: Cli, empty_database_url: str) -> None:
    before = signal.getsignal(signal.SIGTERM)
    refused = bare_cli("worker", env=db_env(empty_database_url), code=1)
    assert "mlgov db upgrade" in refused.stderr
    assert signal.getsignal(signal.SIGTERM) == before


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serving(
    bare_cli: Cli, database_url: str, home: Path, *options: str
) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    """`mlgov init` then `mlgov server [options]` in a child process; yields (url, admin key,
    the child)."""
    env = {**os.environ, "MLGOV_HOME": str(home), **db_env(database_url)}
    key = json.loads(bare_cli("init", "-o", "json", env=db_env(database_url)).stdout)["api_key"]
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from mlgov.cli.app import main; main()",
            "server",
            "--port",
            str(port),
            "--log-level",
            "warning",
            *options,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert child.poll() is None, child.communicate()[1].decode()
            assert time.monotonic() < deadline, "mlgov server did not become ready"
            time.sleep(0.1)
        yield url, key, child
    finally:
        child.send_signal(signal.SIGTERM)
        _out, err = child.communicate(timeout=60)
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status reports it.
    assert child.returncode in (0, -signal.SIGTERM), err.decode()
    assert b"Traceback" not in err, err.decode()


@pytest.fixture
def live_server(bare_cli: Cli, database_url: str, home: Path) -> Iterator[tuple[str, str]]:
    with serving(bare_cli, database_url, home) as (url, key, _child):
        yield url, key


def test_server_and_cli_over_real_http(bare_cli: Cli, live_server: tuple[str, str]) -> None:
    url, key = live_server
    env = {"MLGOV_URL": url, "MLGOV_API_KEY": key}
    bare_cli("accounts", "create", "team-a", "--environment", "dev", env=env)
    listed = json.loads(bare_cli("accounts", "list", "-o", "json", env=env).stdout)
    assert [a["name"] for a in listed] == ["team-a"]
    wrong_key = {**env, "MLGOV_API_KEY": "mlgov_key-nope.nope"}
    assert bare_cli("accounts", "list", env=wrong_key, code=1).stderr.startswith(
        "ERROR UNAUTHENTICATED: "
    )


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree in /proc")
def test_server_processes_share_one_port_and_one_store(
    bare_cli: Cli, database_url: str, home: Path
) -> None:
    """Concurrent writes through two API processes: every datapoint counted once, the audit
    chain whole, and the processes gone after SIGTERM."""
    with serving(bare_cli, database_url, home, "--processes", "2") as (url, key, child):
        replicas = [
            p
            for p in _children(child.pid)
            if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()
        ]
        assert len(replicas) == 2
        headers = {"authorization": f"Bearer {key}"}
        httpx.post(
            f"{url}/api/v1/accounts",
            json={"name": "team-a", "environment": "dev"},
            headers=headers,
        ).raise_for_status()
        stamp = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)

        def put(worker: int) -> None:
            with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
                for _batch in range(5):
                    body = {
                        "namespace": "Multi/Process",
                        "metric_data": [
                            {
                                "metric_name": "x",
                                "value": float(worker),
                                "timestamp": stamp.isoformat(),
                            }
                        ]
                        * 200,
                    }
                    http.post("/api/v1/accounts/team-a/metrics", json=body).raise_for_status()

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(put, range(4)))
        answer = httpx.post(
            f"{url}/api/v1/accounts/team-a/metrics/statistics",
            json={
                "namespace": "Multi/Process",
                "metric_name": "x",
                "start_time": stamp.isoformat(),
                "end_time": (stamp + timedelta(minutes=1)).isoformat(),
                "period": 60,
                "statistics": ["SampleCount", "Sum"],
            },
            headers=headers,
        )
        answer.raise_for_status()
        [point] = answer.json()["datapoints"]
        assert point["sample_count"] == 4 * 5 * 200
        assert point["sum"] == pytest.approx(5 * 200 * (0 + 1 + 2 + 3))
        verified = bare_cli(
            "audit", "verify", "-o", "json", env={"MLGOV_URL": url, "MLGOV_API_KEY": key}
        )
        assert json.loads(verified.stdout)["valid"] is True
    assert not [p for p in replicas if Path(f"/proc/{p}").exists()], "a replica outlived SIGTERM"
