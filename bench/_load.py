"""Closed-loop HTTP load for the benchmarks: `wrk` when installed, a Python driver otherwise.

On a two-core machine the load generator shares the cores with the server it measures. A Python
client (httpx on asyncio) spends about as much CPU per request as the servers do, so it caps both
systems near its own rate and squeezes every ratio towards 1. `wrk` (Debian package ``wrk``,
written in C) spends a few percent of a core at these rates, so the server sets the rate. Every
result says which driver produced it; ``MLGOV_BENCH_DRIVER=python`` forces the fallback.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

UNIQUE = "@N@"  # in a body: replaced by a number no other request of the run gets


@dataclass(frozen=True)
class Call:
    path: str  # with its query string
    method: str = "GET"
    body: bytes = b""
    content_type: str | None = None


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failures: int  # non-2xx answers and socket errors
    driver: str

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def driver() -> str:
    wanted = os.environ.get("MLGOV_BENCH_DRIVER", "")
    return "wrk" if wanted != "python" and shutil.which("wrk") else "python"


def load(
    url: str,
    calls: Sequence[Call],
    *,
    headers: dict[str, str] | None = None,
    connections: int,
    seconds: float,
    warmup: float = 0.0,
) -> Result:
    """``connections`` callers, each sending the next of ``calls`` (round robin) when answered."""
    run = _wrk if driver() == "wrk" else _python
    if warmup > 0:
        run(url, calls, headers or {}, connections, warmup)
    result = run(url, calls, headers or {}, connections, seconds)
    if result.failures:
        raise RuntimeError(f"{result.failures} failed calls to {url}{calls[0].path}")
    return result


# --- wrk -------------------------------------------------------------------------------------


def _lua_string(data: bytes) -> str:
    text = data.decode()
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    # A long bracket drops a newline right after the opening bracket: give it one to drop.
    return f"[{'=' * level}[\n{text}]{'=' * level}]"


def _script(calls: Sequence[Call], headers: dict[str, str]) -> str:
    entries = []
    for call in calls:
        sent = dict(headers)
        if call.content_type:
            sent["Content-Type"] = call.content_type
        header_table = ", ".join(f'["{k}"] = {_lua_string(v.encode())}' for k, v in sent.items())
        body = _lua_string(call.body) if call.body else "nil"
        unique = "true" if UNIQUE.encode() in call.body else "false"
        entries.append(
            f'  {{"{call.method}", {_lua_string(call.path.encode())}, {{{header_table}}}, {body}, '
            f"{unique}}}"
        )
    # A request without the marker is the same bytes every time: formatted once per thread, so
    # that the load generator spends its share of the cores on sending, not on copying bodies
    # (for 100 kB bodies, formatting each request anew cost wrk about 2 ms of CPU a request).
    return (
        "local calls = {\n" + ",\n".join(entries) + "\n}\n"
        "local formatted = {}\n"
        "local next_call, sent = 0, 0\n"
        "local threads = 0\n"
        "function setup(thread)\n"
        "  threads = threads + 1\n"
        '  thread:set("tid", threads)\n'
        "end\n"
        "request = function()\n"
        "  next_call = next_call % #calls + 1\n"
        "  sent = sent + 1\n"
        "  local c = calls[next_call]\n"
        "  if c[5] then\n"
        f'    local body = (string.gsub(c[4], "{UNIQUE}", tid .. "-" .. sent))\n'
        "    return wrk.format(c[1], c[2], c[3], body)\n"
        "  end\n"
        "  local request = formatted[next_call]\n"
        "  if not request then\n"
        "    request = wrk.format(c[1], c[2], c[3], c[4])\n"
        "    formatted[next_call] = request\n"
        "  end\n"
        "  return request\n"
        "end\n"
    )


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def _wrk(
    url: str, calls: Sequence[Call], headers: dict[str, str], connections: int, seconds: float
) -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_script(calls, headers))
    try:
        threads = min(2, connections)
        out = subprocess.run(
            ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
             "--timeout", "30s", "--latency", "-s", script.name, url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        Path(script.name).unlink()
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s)", out)
    percentiles = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)\s*$", out, re.MULTILINE))
    if done is None or len(percentiles) < 2:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    failures = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if errors:
        failures += sum(int(n) for n in errors.groups())
    return Result(
        requests=int(done.group(1)),
        seconds=_ms(done.group(2) + done.group(3)) / 1e3,
        p50_ms=_ms(percentiles["50"]),
        p99_ms=_ms(percentiles["99"]),
        failures=failures,
        driver="wrk",
    )


# --- the Python fallback ---------------------------------------------------------------------


def _python(
    url: str, calls: Sequence[Call], headers: dict[str, str], connections: int, seconds: float
) -> Result:
    return asyncio.run(_drive(url, calls, headers, connections, seconds))


async def _drive(
    url: str, calls: Sequence[Call], headers: dict[str, str], connections: int, seconds: float
) -> Result:
    latencies: list[float] = []
    failures = 0
    counter = iter(range(10**12))
    began = time.perf_counter()
    deadline = began + seconds

    async def caller(client: httpx.AsyncClient) -> None:
        nonlocal failures
        while time.perf_counter() < deadline:
            n = next(counter)
            call = calls[n % len(calls)]
            sent = {"content-type": call.content_type} if call.content_type else {}
            body = call.body.replace(UNIQUE.encode(), str(n).encode())
            started = time.perf_counter()
            answer = await client.request(call.method, call.path, content=body, headers=sent)
            latencies.append(time.perf_counter() - started)
            failures += not answer.is_success

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as c:
        await asyncio.gather(*(caller(c) for _ in range(connections)))
    elapsed = time.perf_counter() - began
    ordered = sorted(latencies)
    return Result(
        requests=len(ordered),
        seconds=elapsed,
        p50_ms=statistics.median(ordered) * 1e3,
        p99_ms=ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1e3,
        failures=failures,
        driver="python (httpx)",
    )
