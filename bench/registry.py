"""Registry benchmark: a large artifact through bounded memory, and API rate against MLflow.

1. Streams an artifact of ``--artifact-mb`` (default 1024) up through the SDK into a real server,
   registers a version on it and streams it back, verifying the SHA-256; prints time, MB/s and the
   peak resident memory of the server and of the client, which must stay flat (a few chunks),
   not grow with the artifact.
2. Seeds ``--versions`` (default 1,000) model versions into one group of each system, one in ten
   tagged ``tier=gold``, then drives a search over them (the gold versions of the group, one page
   of 100: mlgov ``GET /model-versions?group=&tag=``, MLflow ``model-versions/search`` with
   ``name = ... AND tags.tier = 'gold'``), model-version writes (register a version) and reads
   (describe a version) at ``--clients`` concurrent clients against mlgov and, when it can be
   installed into ``.venv-mlflow``, against MLflow's tracking server on the same machine, each one
   process on SQLite. Both servers run side by side and take turns, ``--rounds`` rounds of each
   operation; prints requests/s, p50/p99 and the median of the rounds' ratios against the goal of
   DESIGN.md section 7 (at least 5x MLflow on each operation).

    python bench/registry.py [--artifact-mb 1024] [--seconds 10] [--clients 10] [--versions 1000]
                             [--rounds 5] [--skip-mlflow]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx

from _load import Call, Result, driver, load
from _machine import Yardstick
from _server import Server, free_port, peak_rss_mb, running_server
from mlgov import Client

ROOT = Path(__file__).resolve().parent.parent
MLFLOW_VENV = ROOT / ".venv-mlflow"
MLFLOW_VERSION = "3.17.2"
MB = 1024 * 1024
GOAL = 5.0
OPERATIONS = (
    ("search", "search by tag"),
    ("write", "register a version"),
    ("read", "describe a version"),
)
SEARCH_PAGE = 100

Request = Callable[[httpx.AsyncClient, int], "asyncio.Future[httpx.Response] | object"]


def write_artifact(path: Path, megabytes: int) -> str:
    """A file of random-looking megabytes, written a block at a time; returns its SHA-256."""
    digest = hashlib.sha256()
    block = os.urandom(MB)
    with open(path, "wb") as out:
        for index in range(megabytes):
            chunk = index.to_bytes(8, "little") + block[8:]
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def artifact_round_trip(server: Server, megabytes: int) -> list[str]:
    scratch = Path(tempfile.mkdtemp(prefix="mlgov-bench-artifact-"))
    source, target = scratch / "model.bin", scratch / "model.back"
    expected = write_artifact(source, megabytes)
    client_before = peak_rss_mb()
    server_before = peak_rss_mb(server.process.pid)
    with Client(server.url, api_key=server.token, timeout=600) as client:
        client.registry.create_group("bench", "big")
        started = time.perf_counter()
        uploaded = client.registry.upload_artifact("bench", source)
        upload_s = time.perf_counter() - started
        assert uploaded["sha256"] == expected, "the server hashed different bytes"
        client.registry.create_version(
            "bench", "big", flavor="python", artifact_sha256=uploaded["sha256"]
        )
        started = time.perf_counter()
        client.registry.download_artifact("bench", "big", 1, target)
        download_s = time.perf_counter() - started
    assert target.stat().st_size == megabytes * MB
    server_after = peak_rss_mb(server.process.pid)
    client_after = peak_rss_mb()
    for path in (source, target):
        path.unlink()
    rate = megabytes / upload_s, megabytes / download_s
    return [
        f"artifact of {megabytes} MB, streamed in 1 MB chunks, SHA-256 verified both ways",
        "",
        "| step     | seconds |   MB/s |",
        "|----------|---------|--------|",
        f"| upload   | {upload_s:7.2f} | {rate[0]:6.0f} |",
        f"| download | {download_s:7.2f} | {rate[1]:6.0f} |",
        "",
        f"peak RSS, server process: {server_before:.0f} MB before -> {server_after:.0f} MB after",
        f"peak RSS, client process: {client_before:.0f} MB before -> {client_after:.0f} MB after",
    ]


# --- API rate ------------------------------------------------------------------------------------


async def seed(
    url: str, headers: dict[str, str], count: int, clients: int, request: Request
) -> float:
    """Send ``request(client, n)`` for n in 0..count-1 over ``clients`` connections; seconds."""
    numbers = iter(range(count))
    started = time.perf_counter()

    async def worker(client: httpx.AsyncClient) -> None:
        for n in numbers:
            response = await request(client, n)  # type: ignore[misc]
            response.raise_for_status()

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as c:
        await asyncio.gather(*(worker(c) for _ in range(clients)))
    return time.perf_counter() - started


def tier(n: int) -> str:
    """One version in ten is gold: the search finds ``versions / 10`` of them."""
    return "gold" if n % 10 == 0 else "silver"


@dataclass
class Target:
    """One system under load: where it listens, its headers, and the call of each operation."""

    system: str
    url: str
    headers: dict[str, str]
    calls: dict[str, Call]
    seeded_s: float


def mlgov_target(server: Server, clients: int, versions: int) -> Target:
    sha = hashlib.sha256(b"small model").hexdigest()
    with Client(server.url, api_key=server.token) as client:
        client.registry.create_group("bench", "fast")
        client.registry.create_group("bench", "search")
        client.registry.create_version("bench", "fast", flavor="sklearn", artifact=b"small model")
    group = "/api/v1/accounts/bench/model-groups/fast"
    body = {"artifact_sha256": sha, "flavor": "sklearn", "metrics": {"auc": 0.9}}
    headers = {"authorization": f"Bearer {server.token}"}

    def add(c: httpx.AsyncClient, n: int) -> object:
        tags = {"tier": tier(n), "team": "fraud"}
        return c.post(
            "/api/v1/accounts/bench/model-groups/search/versions", json={**body, "tags": tags}
        )

    seeded = asyncio.run(seed(server.url, headers, versions, clients, add))
    query = {"group": "search", "tag": "tier=gold", "page_size": SEARCH_PAGE}
    found = httpx.get(f"{server.url}/api/v1/accounts/bench/model-versions", params=query,
                      headers=headers).json()["items"]  # fmt: skip
    assert len(found) == min(SEARCH_PAGE, -(-versions // 10)), len(found)
    calls = {
        "search": Call(f"/api/v1/accounts/bench/model-versions?{urlencode(query)}"),
        "write": Call(f"{group}/versions", "POST", json.dumps(body).encode(), "application/json"),
        "read": Call(f"{group}/versions/1"),
    }
    return Target("mlgov", server.url, headers, calls, seeded)


def interleaved(
    targets: list[Target], op: str, clients: int, seconds: float, rounds: int
) -> list[list[Result]]:
    """``rounds`` rounds of ``op`` against each target in turn, the order reversed every other
    round: the results of each target, by round.

    These VMs change speed within a run (the yardstick has read 0.55 s at the start of a run and
    0.33 s at its end), and measuring one system after the other charged that drift to one of
    them; side by side, each round compares the two at the same moment.
    """
    results: list[list[Result]] = [[] for _ in targets]
    for round_ in range(rounds):
        order = range(len(targets)) if round_ % 2 == 0 else reversed(range(len(targets)))
        for i in order:
            target = targets[i]
            results[i].append(
                load(target.url, [target.calls[op]], headers=target.headers,
                     connections=clients, seconds=seconds / rounds, warmup=0.5)
            )  # fmt: skip
    return results


def row(system: str, operation: str, results: list[Result]) -> str:
    rate = sum(r.requests for r in results) / sum(r.seconds for r in results)
    p50 = statistics.median(r.p50_ms for r in results)
    p99 = statistics.median(r.p99_ms for r in results)
    return f"| {system:<7} | {operation:<22} | {rate:>8.0f} | {p50:>7.1f} | {p99:>7.1f} |"


def ensure_mlflow() -> Path | None:
    python = MLFLOW_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
    probe = subprocess.run([str(python), "-c", "import mlflow.server"], capture_output=True)
    if probe.returncode != 0:
        print(f"installing mlflow=={MLFLOW_VERSION} into {MLFLOW_VENV} ...", file=sys.stderr)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", f"mlflow=={MLFLOW_VERSION}"],
            capture_output=True,
        )
        if done.returncode != 0:
            return None
    return MLFLOW_VENV / "bin" / "mlflow"


@contextmanager
def mlflow_target(clients: int, versions: int, workers: int = 1) -> Iterator[Target | None]:
    """MLflow's tracking server (SQLite backend, ``workers`` worker processes), seeded as mlgov
    is; None when it cannot be installed or started."""
    executable = ensure_mlflow()
    if executable is None:
        yield None
        return
    home = Path(tempfile.mkdtemp(prefix="mlflow-bench-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            str(executable), "server", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers),
            "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}",
            "--default-artifact-root", str(home / "artifacts"),
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    api = "/api/2.0/mlflow"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            yield None
            return
        for name in ("fast", "search"):
            created = httpx.post(f"{url}{api}/registered-models/create", json={"name": name})
            created.raise_for_status()
        version = {"name": "fast", "source": "s3://bench-models/fast/model"}
        httpx.post(f"{url}{api}/model-versions/create", json=version).raise_for_status()

        def add(c: httpx.AsyncClient, n: int) -> object:
            tags = [{"key": "tier", "value": tier(n)}, {"key": "team", "value": "fraud"}]
            return c.post(
                f"{api}/model-versions/create",
                json={"name": "search", "source": "s3://bench-models/search/model", "tags": tags},
            )

        seeded = asyncio.run(seed(url, {}, versions, clients, add))
        query = {"filter": "name = 'search' AND tags.tier = 'gold'", "max_results": SEARCH_PAGE}
        found = httpx.get(f"{url}{api}/model-versions/search", params=query).json()
        assert len(found["model_versions"]) == min(SEARCH_PAGE, -(-versions // 10)), found

        calls = {
            "search": Call(f"{api}/model-versions/search?{urlencode(query)}"),
            "write": Call(
                f"{api}/model-versions/create", "POST", json.dumps(version).encode(),
                "application/json",
            ),
            "read": Call(f"{api}/model-versions/get?name=fast&version=1"),
        }  # fmt: skip
        yield Target("MLflow", url, {}, calls, seeded)
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--artifact-mb", type=int, default=1024)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--processes", type=int, default=1, help="mlgov API processes")
    parser.add_argument("--mlflow-workers", type=int, default=1, help="MLflow worker processes")
    args = parser.parse_args()
    yardstick = Yardstick()

    if args.artifact_mb > 0:
        with running_server() as server:
            print("\n".join(artifact_round_trip(server, args.artifact_mb)))
    # A fresh server for the rates: a gigabyte just streamed through leaves the page cache and
    # the blob store in a state no steady server is in (it cost the rates about a fifth).
    with ExitStack() as stack:
        server = stack.enter_context(running_server(processes=args.processes))
        targets = [mlgov_target(server, args.clients, args.versions)]
        if not args.skip_mlflow:
            mlflow = mlflow_target(args.clients, args.versions, args.mlflow_workers)
            theirs = stack.enter_context(mlflow)
            if theirs is not None:
                targets.append(theirs)
        results = {
            op: interleaved(targets, op, args.clients, args.seconds, args.rounds)
            for op, _label in OPERATIONS
        }
    matches = min(SEARCH_PAGE, -(-args.versions // 10))
    print(
        f"\nregistry API on SQLite, mlgov {args.processes} process(es), MLflow "
        f"{args.mlflow_workers} worker(s), {args.clients} concurrent clients, "
        f"{args.seconds:.0f} s per operation and system in {args.rounds} rounds, the systems "
        f"taking turns; load from {driver()}; search: the {matches} tier=gold versions among "
        f"{args.versions:,} versions of one group, one page\n"
    )
    seeding = ", ".join(f"{t.system} {t.seeded_s:.1f} s" for t in targets)
    print(f"seeding {args.versions:,} versions: {seeding}\n")
    print("| system  | operation              |    req/s |  p50 ms |  p99 ms |")
    print("|---------|------------------------|----------|---------|---------|")
    for op, label in OPERATIONS:
        for target, by_round in zip(targets, results[op], strict=True):
            print(row(target.system, label, by_round))
    if len(targets) == 2:
        print(f"\ngoal (DESIGN.md section 7): at least {GOAL:.0f}x MLflow on each operation")
        print("ratio: the median of the rounds' ratios (each round measures both systems)")
        for op, _label in OPERATIONS:
            ours, theirs_ = results[op]
            ratios = sorted(a.rate / b.rate for a, b in zip(ours, theirs_, strict=True))
            ratio = statistics.median(ratios)
            verdict = "met" if ratio >= GOAL else "NOT met"
            print(
                f"mlgov / MLflow, {op}: {ratio:.1f}x ({verdict}); rounds "
                f"{', '.join(f'{r:.1f}' for r in ratios)}"
            )
    elif not args.skip_mlflow:
        print("MLflow could not be installed or started; its rows are missing")

    print(yardstick.report())


if __name__ == "__main__":
    main()
