"""Telemetry benchmark: the four numbers of the telemetry issue, then the detail behind them.

1. Ingest: datapoints/s through a real server (`mlgov server --processes N`, one API process per
   core by default, embedded SQLite: HTTP, authentication, audit record, commit before the 200)
   in PutMetricData batches of 1,000 from ``--ingest-clients`` (2) connections per process,
   from wrk when installed (bench/_load.py), each sending its next batch when the last is
   answered; the target's measure. The same with one process, 2 connections. Also the embedded store
   alone: the same JSON bodies parsed, decoded to columns and stored, one transaction per
   batch, no HTTP or audit; and storing already decoded batches, to show what parsing costs.
2. Query: a day of 1-minute data (``--values-per-minute`` raw values per minute), then the API's
   GetMetricStatistics for p99 at a 1-minute period (1,440 datapoints, one sketch each) and at a
   1-hour period (hourly rollups), median and p95 latency of ``--queries`` calls.
3. Alarms: ``--alarms`` metric alarms (one in ten on p99) over as many metrics with ten minutes
   of data; the first evaluation (every alarm leaves INSUFFICIENT_DATA: history rows and outbox
   events) and a steady one (no transitions), each in one transaction, as the worker runs it.
   The first round runs in three copies of the one store: its median, and its range.
4. Events: delivered per second to a loopback webhook (bench/events.py's run, imported), at the
   default send concurrency.

The first table holds the four numbers with ok/MISSED against the targets that exist (200,000
datapoints/s through the API, 10,000 alarms in under 1 s); the others have none and say so.

    python bench/telemetry.py [--batches 100] [--alarms 10000] [--queries 20] [--events 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pydantic_core

from _load import Call, load
from _machine import Yardstick
from _server import running_server
from events import delivered_per_second
from mlgov.server.alarms import schemas as alarm_schemas
from mlgov.server.alarms import service as alarms
from mlgov.server.app import freeze_startup_heap
from mlgov.server.db import schema
from mlgov.server.db.engine import engine_from_settings, session_factory, unit_of_work
from mlgov.server.identity import schemas as identity_schemas
from mlgov.server.identity import service as identity
from mlgov.server.kit.context import Caller
from mlgov.server.metrics import batch as metric_batch
from mlgov.server.metrics import schemas as metric_schemas
from mlgov.server.metrics import service as metrics
from mlgov.server.workers.wal_checkpointer import checkpoint
from mlgov.settings import DatabaseSettings, Settings

NS = "Bench/Inference"
TARGETS = {"ingest": 200_000.0, "alarms": 1.0}  # datapoints/s through the API; seconds a round


def batch(rng: np.random.Generator, start: datetime, size: int = 1000) -> dict[str, object]:
    """1,000 datums over 10 metrics (Model=m0..m9) and 10 minutes, latency-like values."""
    values = rng.lognormal(3.0, 0.5, size)
    return {
        "namespace": NS,
        "metric_data": [
            {
                "metric_name": "latency",
                "dimensions": [{"name": "Model", "value": f"m{i % 10}"}],
                "timestamp": (start + timedelta(seconds=(i * 0.6) % 600)).isoformat(),
                "value": float(values[i]),
                "unit": "Milliseconds",
            }
            for i in range(size)
        ],
    }


def bench_ingest_api(clients: int, seconds: float, processes: int = 1) -> tuple[float, str]:
    """Datapoints/s through `mlgov server --processes N` from ``clients`` connections, each
    posting the next of 20 encoded batches as soon as the last is answered (wrk when installed,
    see _load.py)."""
    rng = np.random.default_rng(1)
    start = datetime.now(UTC) - timedelta(hours=1)
    calls = [
        Call(
            "/api/v1/accounts/bench/metrics",
            "POST",
            json.dumps(batch(rng, start + timedelta(minutes=i)), separators=(",", ":")).encode(),
            "application/json",
        )
        for i in range(20)
    ]
    with running_server(processes=processes) as server:
        headers = {"authorization": f"Bearer {server.token}"}
        result = load(
            server.url, calls, headers=headers, connections=clients, seconds=seconds, warmup=1
        )
    note = f"{clients} connections ({result.driver}), p50 {result.p50_ms:.1f} ms"
    return result.rate * 1000, note


def store(home: Path) -> tuple[Settings, str]:
    settings = Settings(home=home, database=DatabaseSettings(url=f"sqlite:///{home}/mlgov.db"))
    engine = engine_from_settings(settings)
    schema.upgrade(engine)
    with unit_of_work(session_factory(engine)) as session:
        identity.bootstrap(session, "bench")
        account = identity.create_account(
            session, identity_schemas.AccountCreate(name="bench", environment="dev")
        )
        account_id = account.id
    engine.dispose()
    return settings, account_id


def bench_ingest_service(batches: int) -> tuple[float, float, float]:
    """The embedded store without HTTP or audit: (JSON bytes -> stored, columns -> stored,
    CPU-seconds per 1,000 datapoints of the first), each batch its own transaction."""
    rng = np.random.default_rng(2)
    start = datetime.now(UTC) - timedelta(hours=1)
    bodies = [
        json.dumps(batch(rng, start + timedelta(minutes=i % 50))).encode() for i in range(batches)
    ]
    decoded = [metric_batch.decode(json.loads(body)) for body in bodies]
    assert all(d is not None for d in decoded)
    rates = []
    cpu = 0.0
    for from_bytes in (True, False):
        with tempfile.TemporaryDirectory() as home:
            settings, account_id = store(Path(home))
            engine = engine_from_settings(settings)
            factory = session_factory(engine)
            began, cpu_began = time.perf_counter(), time.process_time()
            for body, columns in zip(bodies, decoded, strict=True):
                with unit_of_work(factory) as session:
                    if from_bytes:
                        columns = metric_batch.decode(pydantic_core.from_json(body))
                    assert columns is not None
                    metrics.ingest(session, account_id, columns)
            rates.append(batches * 1000 / (time.perf_counter() - began))
            if from_bytes:
                cpu = (time.process_time() - cpu_began) / batches
            engine.dispose()
    return rates[0], rates[1], cpu


def load_day(factory: object, account_id: str, per_minute: int, now: datetime) -> None:
    rng = np.random.default_rng(3)
    start = now.replace(second=0, microsecond=0) - timedelta(days=1)
    datums = [
        {
            "metric_name": "latency",
            "values": [float(v) for v in rng.lognormal(3.0, 0.5, per_minute)],
            "timestamp": (start + timedelta(minutes=m)).isoformat(),
        }
        for m in range(1440)
    ]
    for first in range(0, len(datums), 100):
        data = metric_schemas.PutMetricData.model_validate(
            {"namespace": NS, "metric_data": datums[first : first + 100]}
        )
        with unit_of_work(factory) as session:  # type: ignore[arg-type]
            metrics.put_metric_data(session, account_id, data, now)


def bench_query(per_minute: int, queries: int) -> dict[int, tuple[float, float]]:
    with running_server() as server:
        settings = Settings(home=server.home)
        engine = engine_from_settings(settings)
        now = datetime.now(UTC)
        with unit_of_work(session_factory(engine)) as session:
            account_id = identity.get_account(session, "bench").id
        load_day(session_factory(engine), account_id, per_minute, now)
        engine.dispose()
        end = now.replace(second=0, microsecond=0)
        results = {}
        with httpx.Client(base_url=server.url, timeout=60) as http:
            headers = {"authorization": f"Bearer {server.token}"}
            for period in (60, 3600):
                body = {
                    "namespace": NS,
                    "metric_name": "latency",
                    "start_time": (end - timedelta(days=1)).isoformat(),
                    "end_time": end.isoformat(),
                    "period": period,
                    "extended_statistics": ["p99"],
                }
                times = []
                for _ in range(queries):
                    began = time.perf_counter()
                    response = http.post(
                        "/api/v1/accounts/bench/metrics/statistics", json=body, headers=headers
                    )
                    response.raise_for_status()
                    times.append(time.perf_counter() - began)
                    assert len(response.json()["datapoints"]) >= 1440 * 60 // period - 1
                times.sort()
                results[period] = (
                    statistics.median(times) * 1000,
                    times[int(0.95 * (len(times) - 1))] * 1000,
                )
    return results


def bench_alarms(count: int, trials: int = 3) -> tuple[list[float], float, int]:
    """The first round's seconds in each of ``trials`` copies of one store, the median steady
    round, and the first round's transitions. One first round is one sample of a VM whose speed
    moves from minute to minute; the copies make it several samples of the same work."""
    with tempfile.TemporaryDirectory() as home:
        settings, account_id = store(Path(home))
        # As the worker's engine: commits leave the log to the background checkpointer.
        engine = engine_from_settings(settings, background_checkpoints=True)
        factory = session_factory(engine)
        rng = np.random.default_rng(4)
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        datums = [
            {
                "metric_name": "latency",
                "dimensions": [{"name": "Model", "value": f"m{i}"}],
                "timestamp": (now - timedelta(minutes=minute + 1)).isoformat(),
                "values": [float(v) for v in rng.lognormal(3.0, 0.5, 5)],
            }
            for i in range(count)
            for minute in range(10)
        ]
        for first in range(0, len(datums), 1000):
            data = metric_schemas.PutMetricData.model_validate(
                {"namespace": NS, "metric_data": datums[first : first + 1000]}
            )
            with unit_of_work(factory) as session:
                metrics.put_metric_data(session, account_id, data, now)
        # Into the rollups, as ingest and the evaluator (before each round) keep the log folded:
        # the rounds below time evaluation, not a fold of all 100,000 datums at once.
        with unit_of_work(factory) as session:
            metrics.fold_pending(session)
        caller = Caller("bench", "bench", "user", account_id, "key")
        with unit_of_work(factory) as session:
            for i in range(count):
                percentile = i % 10 == 0
                config = alarm_schemas.MetricAlarmPut(
                    namespace=NS,
                    metric_name="latency",
                    dimensions=[metric_schemas.Dimension(name="Model", value=f"m{i}")],
                    statistic=None if percentile else metric_schemas.Statistic.AVERAGE,
                    extended_statistic="p99" if percentile else None,
                    period=60 * (1 + i % 5),
                    evaluation_periods=1 + i % 3,
                    threshold=float(rng.uniform(10, 40)),
                    comparison_operator="GreaterThanThreshold",  # type: ignore[arg-type]
                )
                alarms.put_metric_alarm(session, account_id, f"alarm-{i}", caller, config, now)
        del datums
        checkpoint(engine)
        engine.dispose()
        database = Path(home) / "mlgov.db"
        # The last connection closed checkpoints and removes the log: the store is its one file.
        assert not database.with_name("mlgov.db-wal").exists()
        pristine = database.with_name("pristine.db")
        shutil.copyfile(database, pristine)
        freeze_startup_heap()  # as `mlgov worker` and `mlgov server` do once they have started
        firsts: list[float] = []
        steadies: list[float] = []
        transitions = 0
        for _trial in range(trials):
            shutil.copyfile(pristine, database)
            engine = engine_from_settings(settings, background_checkpoints=True)
            factory = session_factory(engine)
            for round_ in range(3):
                checkpoint(engine)  # what the checkpointer does in the second between two rounds
                began = time.perf_counter()
                with unit_of_work(factory) as session:
                    report = alarms.evaluate_all(session, now + timedelta(seconds=1))
                (steadies if round_ else firsts).append(time.perf_counter() - began)
                if round_ == 0:
                    transitions = len(report.transitions)
            engine.dispose()
            assert not database.with_name("mlgov.db-wal").exists()
    return firsts, statistics.median(steadies), transitions


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument(
        "--processes",
        type=int,
        default=os.cpu_count() or 1,
        help="API processes of the ingest server (one per core by default); a one-process "
        "server is measured too",
    )
    parser.add_argument(
        "--ingest-clients",
        type=int,
        default=2,
        help="wrk connections per API process: the kernel spreads connections over processes",
    )
    parser.add_argument("--ingest-seconds", type=float, default=8.0)
    parser.add_argument("--alarms", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--values-per-minute", type=int, default=60)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--event-concurrency", type=int, default=8)
    args = parser.parse_args()
    yardstick = Yardstick()

    single_rate, single_note = bench_ingest_api(args.ingest_clients, args.ingest_seconds)
    api_rate, api_note = single_rate, single_note
    if args.processes > 1:
        api_rate, api_note = bench_ingest_api(
            args.ingest_clients * args.processes, args.ingest_seconds, args.processes
        )
    service_rate, store_rate, cpu_per_batch = bench_ingest_service(args.batches)
    query = bench_query(args.values_per_minute, args.queries)
    firsts, steady, transitions = bench_alarms(args.alarms)
    first = statistics.median(firsts)
    spread = f"{min(firsts):.2f}-{max(firsts):.2f}"
    events_rate = delivered_per_second(args.events, args.event_concurrency)

    issue = [
        (f"metric ingest through the API ({args.processes} processes, batches of 1,000)",
         f"{api_rate:,.0f} datapoints/s",
         f">= {TARGETS['ingest']:,.0f}/s", verdict(api_rate >= TARGETS["ingest"])),
        ("1-day p99 query, 1-minute data (1,440 points)",
         f"median {query[60][0]:.1f} ms, p95 {query[60][1]:.1f} ms", "none set", "-"),
        (f"evaluate {args.alarms:,} alarms, first round", f"median {first:.2f} s ({spread})",
         f"< {TARGETS['alarms']:.0f} s", verdict(first < TARGETS["alarms"])),
        (f"evaluate {args.alarms:,} alarms, steady round", f"{steady:.2f} s",
         f"< {TARGETS['alarms']:.0f} s", verdict(steady < TARGETS["alarms"])),
        ("events delivered to a loopback webhook", f"{events_rate:,.0f} events/s",
         "none set", "-"),
    ]  # fmt: skip
    width = max(len(r[0]) for r in issue)
    print("\ntelemetry targets (embedded SQLite, one machine)")
    print(f"{'measure':<{width}}  {'result':<32}  {'target':<14}  verdict")
    for name, result, target, mark in issue:
        print(f"{name:<{width}}  {result:<32}  {target:<14}  {mark}")

    rows = [
        (f"ingest, API, {args.processes} processes (batches of 1,000)",
         f"{api_rate:,.0f} datapoints/s", f"HTTP, auth, audit record, commit; {api_note}"),
        ("ingest, API, 1 process", f"{single_rate:,.0f} datapoints/s", single_note),
        ("ingest, embedded store (JSON bytes -> stored)", f"{service_rate:,.0f} datapoints/s",
         f"{cpu_per_batch * 1000:.1f} ms CPU per 1,000"),
        ("ingest, store only (decoded batch -> stored)", f"{store_rate:,.0f} datapoints/s", ""),
        ("1-day p99, 1-min period (1,440 points)",
         f"median {query[60][0]:.1f} ms, p95 {query[60][1]:.1f} ms", ""),
        ("1-day p99, 1-hour period (hourly rollups)",
         f"median {query[3600][0]:.1f} ms, p95 {query[3600][1]:.1f} ms", ""),
        (f"evaluate {args.alarms:,} alarms, first ({transitions:,} transitions)",
         f"median {first:.2f} s ({spread})",
         f"history rows and outbox events for each; {len(firsts)} copies of one store"),
        (f"evaluate {args.alarms:,} alarms, steady (no transitions)", f"{steady:.2f} s", ""),
        (f"events to a loopback webhook ({args.events:,}, concurrency {args.event_concurrency})",
         f"{events_rate:,.0f} events/s", "routing, signing, sending, recording"),
    ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print("\ndetail")
    print(f"{'measure':<{width}}  {'result':<36}  note")
    for name, result, note in rows:
        print(f"{name:<{width}}  {result:<36}  {note}")

    print(yardstick.report())


if __name__ == "__main__":
    main()
