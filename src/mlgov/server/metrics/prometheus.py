"""``/metrics``: the Prometheus text exposition format (0.0.4), written by hand (it is small).

The platform's own series come from the process (requests, latencies, worker heartbeats) and the
database (outbox depth, alarms by state). User metrics are exported only for the namespaces listed
in ``telemetry.prometheus_namespaces``: the latest complete minute of each metric with data in
the last 15 minutes, as gauges labelled with account, namespace, metric, unit and dimensions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mlgov import __version__
from mlgov.errors import MlgovError
from mlgov.server.alarms.tables import Alarm
from mlgov.server.db.base import utc_now
from mlgov.server.identity import service as identity
from mlgov.server.kit.errors import render
from mlgov.server.kit.outbox import OutboxEvent
from mlgov.server.kit.runtime import Runtime
from mlgov.server.kit.telemetry import LATENCY_BUCKETS
from mlgov.server.metrics import service
from mlgov.server.metrics.tables import MetricIngestLog

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
USER_METRIC_WINDOW = 15 * 60
_LABEL_NAME = re.compile(r"[^a-zA-Z0-9_]")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def label_name(name: str) -> str:
    """A dimension name as a label: invalid characters become ``_``, and never ``__``-prefixed."""
    cleaned = _LABEL_NAME.sub("_", name)
    return "dim_" + cleaned


def number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class Exposition:
    """Builds the text: one HELP/TYPE header per family, its samples grouped under it."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {escape_help(help_text)}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, labels: Sequence[tuple[str, str]], value: float) -> None:
        if labels:
            inner = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels)
            self.lines.append(f"{name}{{{inner}}} {number(value)}")
        else:
            self.lines.append(f"{name} {number(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _platform(out: Exposition, runtime: Runtime) -> None:
    requests, latencies, heartbeats = runtime.telemetry.snapshot()
    out.family("mlgov_build_info", "gauge", "mlgov version of this process.")
    out.sample("mlgov_build_info", [("version", __version__)], 1)
    out.family("mlgov_process_start_time_seconds", "gauge", "Start time of the process.")
    out.sample("mlgov_process_start_time_seconds", [], runtime.telemetry.started)

    out.family("mlgov_http_requests_total", "counter", "HTTP requests by route and status.")
    for (method, route, status), count in sorted(requests.items()):
        labels = [("method", method), ("route", route), ("status", status)]
        out.sample("mlgov_http_requests_total", labels, count)

    name = "mlgov_http_request_duration_seconds"
    out.family(name, "histogram", "HTTP request latency by route.")
    for (method, route), histogram in sorted(latencies.items()):
        base = [("method", method), ("route", route)]
        cumulative = histogram.cumulative()
        for bound, count in zip(LATENCY_BUCKETS, cumulative, strict=False):
            out.sample(f"{name}_bucket", [*base, ("le", number(bound))], count)
        out.sample(f"{name}_bucket", [*base, ("le", "+Inf")], histogram.count)
        out.sample(f"{name}_sum", base, histogram.total)
        out.sample(f"{name}_count", base, histogram.count)

    out.family("mlgov_worker_last_run_timestamp_seconds", "gauge", "When each worker last ran.")
    for worker, beat in sorted(heartbeats.items()):
        out.sample("mlgov_worker_last_run_timestamp_seconds", [("worker", worker)], beat.last_run)
    out.family("mlgov_worker_lag_seconds", "gauge", "How late each worker's last run started.")
    for worker, beat in sorted(heartbeats.items()):
        out.sample("mlgov_worker_lag_seconds", [("worker", worker)], beat.lag)
    out.family(
        "mlgov_worker_run_duration_seconds", "gauge", "How long each worker's last run took."
    )
    for worker, beat in sorted(heartbeats.items()):
        out.sample("mlgov_worker_run_duration_seconds", [("worker", worker)], beat.duration)


def _database(out: Exposition, session: Session, now: datetime) -> None:
    pending, oldest = session.execute(
        select(func.count(), func.min(OutboxEvent.event_time)).where(
            OutboxEvent.dispatched_at.is_(None)
        )
    ).one()
    out.family("mlgov_outbox_pending_events", "gauge", "Events written but not yet dispatched.")
    out.sample("mlgov_outbox_pending_events", [], pending)
    out.family(
        "mlgov_outbox_oldest_pending_age_seconds",
        "gauge",
        "Age of the oldest undispatched event (0 when none).",
    )
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    out.sample("mlgov_outbox_oldest_pending_age_seconds", [], max(0.0, age))

    waiting, received = session.execute(
        select(func.count(), func.min(MetricIngestLog.received_at))
    ).one()
    out.family(
        "mlgov_metric_ingest_log_batches",
        "gauge",
        "PutMetricData batches accepted but not yet folded into the rollups.",
    )
    out.sample("mlgov_metric_ingest_log_batches", [], waiting)
    out.family(
        "mlgov_metric_ingest_log_oldest_age_seconds",
        "gauge",
        "Age of the oldest batch waiting to be folded (0 when none).",
    )
    waited = now.timestamp() - received if received is not None else 0.0
    out.sample("mlgov_metric_ingest_log_oldest_age_seconds", [], max(0.0, waited))

    counts: dict[str, int] = dict(
        session.execute(select(Alarm.state_value, func.count()).group_by(Alarm.state_value))
        .tuples()
        .all()
    )
    out.family("mlgov_alarms", "gauge", "Alarms by state.")
    for state in ("ALARM", "INSUFFICIENT_DATA", "OK"):
        out.sample("mlgov_alarms", [("state", state)], counts.get(state, 0))


def _user_metrics(
    out: Exposition, session: Session, namespaces: Sequence[str], now: datetime
) -> None:
    if not namespaces:
        return
    moment = service.epoch(now)
    minute = moment - moment % service.MINUTE - service.MINUTE  # the latest complete minute
    repo = service.settled(session)
    metrics = repo.recent_in_namespaces(namespaces, moment - USER_METRIC_WINDOW)
    rows = {
        int(r[0]): r
        for r in repo.series_rollups(
            [m.id for m in metrics], service.MINUTE, minute, minute + service.MINUTE, sketches=False
        )
    }
    families: Iterable[tuple[str, str, str]] = (
        ("mlgov_user_metric_samples", "SampleCount", "Datapoints in the latest complete minute."),
        ("mlgov_user_metric_average", "Average", "Average of the latest complete minute."),
        ("mlgov_user_metric_minimum", "Minimum", "Minimum of the latest complete minute."),
        ("mlgov_user_metric_maximum", "Maximum", "Maximum of the latest complete minute."),
    )
    for name, statistic, help_text in families:
        out.family(name, "gauge", f"User metrics (opted-in namespaces): {help_text}")
        for metric in metrics:
            row = rows.get(metric.id)
            if row is None:
                continue
            labels = [
                ("account", metric.account_id),
                ("namespace", metric.namespace),
                ("metric", metric.name),
                ("unit", metric.unit),
            ]
            seen = {k for k, _v in labels}
            for dim in metric.dimensions:
                key = label_name(dim["name"])
                if key not in seen:
                    seen.add(key)
                    labels.append((key, dim["value"]))
            count, total, low, high = (float(row[i]) for i in range(2, 6))
            aggregate = service.PeriodAggregate(count, total, low, high, [])
            out.sample(name, labels, aggregate.statistic(statistic))


def render_exposition(runtime: Runtime, now: datetime | None = None) -> str:
    now = now or utc_now()
    out = Exposition()
    _platform(out, runtime)
    with runtime.session_factory() as session:
        _database(out, session, now)
        _user_metrics(out, session, runtime.settings.telemetry.prometheus_namespaces, now)
        session.rollback()
    return out.text()


def _authorized(runtime: Runtime, header: str | None) -> None:
    with runtime.session_factory() as session:
        identity.authenticate(session, header)
        session.rollback()


def build_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()

    @router.get(runtime.settings.telemetry.prometheus_path, include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        if runtime.settings.telemetry.prometheus_requires_key:
            try:
                await run_in_threadpool(_authorized, runtime, request.headers.get("authorization"))
            except MlgovError as exc:
                return render(exc)
        text = await run_in_threadpool(render_exposition, runtime)
        return PlainTextResponse(text, media_type=CONTENT_TYPE)

    return router
