"""Real mlgov processes on the test database, for the serving suites."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from mlgov.settings import Settings


def start(
    args: list[str], settings: Settings, tmp_path: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """``mlgov ARGS --port P`` on the test's database and home; returns it once /readyz answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {
        **os.environ,
        "MLGOV_HOME": str(settings.home),
        "MLGOV_DATABASE__URL": settings.database_url,
        "MLGOV_SERVER__RUN_WORKERS": "false",
        **(env or {}),
    }
    log_path = tmp_path / f"{args[0]}-{port}.log"
    log = open(log_path, "wb")  # noqa: SIM115  # closed with the process
    mlgov = Path(sys.executable).with_name("mlgov")
    process = subprocess.Popen(
        [str(mlgov), *args, "--port", str(port)], env=environment, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    process.wait(10)
    raise AssertionError(log_path.read_text())


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(10)
