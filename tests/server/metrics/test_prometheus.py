"""``/metrics``: valid Prometheus text (checked by a parser here and by ``promtool``)."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mlgov import Client
from mlgov.server.app import create_app
from mlgov.settings import Settings, TelemetrySettings
from tests.conftest import client_for

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$")
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count", "")}


def parse_exposition(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Check the 0.0.4 text format strictly; returns samples by family name."""
    assert text.endswith("\n"), "the last line must end with a newline"
    families: dict[str, str] = {}
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    closed: set[str] = set()
    current: str | None = None
    for line in text[:-1].split("\n"):
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            _hash, keyword, name, *rest = line.split(" ", 3)
            assert NAME.match(name), line
            if keyword == "TYPE":
                assert name not in families, f"second TYPE for {name}"
                assert rest and rest[0] in ("counter", "gauge", "histogram", "summary", "untyped")
                families[name] = rest[0]
                assert name not in samples, f"TYPE after samples of {name}"
            if current is not None and current != name:
                closed.add(current)
            current = name
            continue
        assert not line.startswith("#") or line.startswith("# "), line
        match = SAMPLE.match(line)
        assert match, f"bad sample line: {line!r}"
        name, _braces, inner, value, _ts = match.groups()
        labels: dict[str, str] = {}
        if inner:
            position = 0
            while position < len(inner):
                label = LABEL.match(inner, position)
                assert label, f"bad labels in {line!r}"
                assert not label.group(1).startswith("__"), line
                labels[label.group(1)] = label.group(2)
                position = label.end()
        family = next(
            (
                f
                for f in families
                if name == f or name in (f + s for s in SUFFIXES.get(families[f], ()))
            ),
            None,
        )
        assert family is not None, f"sample {name} has no TYPE"
        assert family not in closed, f"samples of {family} are not grouped"
        float(value.replace("Inf", "inf"))  # a Go float
        key = (name, tuple(sorted(labels.items())))
        assert key not in seen, f"duplicate series {key}"
        seen.add(key)
        samples.setdefault(family, []).append(
            ({"__name__": name, **labels}, float(value.replace("Inf", "inf")))
        )
        current = family
    for family, kind in families.items():
        if kind != "histogram":
            continue
        series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
        counts: dict[tuple[tuple[str, str], ...], float] = {}
        for labels, value in samples.get(family, []):
            base = tuple(sorted((k, v) for k, v in labels.items() if k not in ("__name__", "le")))
            if labels["__name__"].endswith("_bucket"):
                le = labels["le"]
                series.setdefault(base, []).append((math.inf if le == "+Inf" else float(le), value))
            elif labels["__name__"].endswith("_count"):
                counts[base] = value
        for base, buckets in series.items():
            bounds = [b for b, _v in buckets]
            assert bounds == sorted(bounds) and bounds[-1] == math.inf, family
            values = [v for _b, v in buckets]
            assert values == sorted(values), f"{family} buckets are not cumulative"
            assert values[-1] == counts[base], f"{family} +Inf bucket differs from _count"
    return samples


def promtool() -> str:
    """promtool (Debian's ``prometheus`` package), which ``.ci/run`` installs.

    Missing in CI (``CI`` set) the test fails, so the check cannot quietly stop running; on a
    developer's machine it is skipped, with the reason shown (``-ra``).
    """
    found = shutil.which("promtool")
    if found:
        return found
    why = "promtool not found: install Debian's prometheus package (apt-get install prometheus)"
    if os.environ.get("CI"):
        pytest.fail(f"{why}; .ci/run should have installed it")
    pytest.skip(why)


@pytest.fixture
def exporting_app(settings: Settings) -> Iterator[FastAPI]:
    telemetry = TelemetrySettings(prometheus_namespaces=["Fraud/Inference"])
    application = create_app(
        settings.model_copy(update={"telemetry": telemetry}), run_workers=False
    )
    yield application
    application.state.runtime.engine.dispose()


@pytest.fixture
def exporter(exporting_app: FastAPI) -> Client:
    from mlgov.server.db.engine import unit_of_work
    from mlgov.server.identity import service as identity

    with unit_of_work(exporting_app.state.runtime.session_factory) as session:
        token = identity.bootstrap(session, "acme").token
    return client_for(exporting_app, token)


def _traffic(client: Client) -> None:
    client.identity.create_account("fraud-dev", "dev")
    last_minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    client.metrics.put(
        "fraud-dev",
        "Fraud/Inference",
        [
            {
                "metric_name": "latency",
                "values": [10.0, 30.0],
                "timestamp": last_minute.isoformat(),
                "dimensions": [{"name": "Model-Name", "value": 'fraud "v2"\\x'}],
                "unit": "Milliseconds",
            }
        ],
    )
    client.metrics.put("fraud-dev", "Private", [{"metric_name": "secret", "value": 1}])
    client.alarms.put_metric_alarm(
        "fraud-dev",
        "a",
        namespace="Fraud/Inference",
        metric_name="latency",
        threshold=1,
        comparison_operator="GreaterThanThreshold",
    )
    list(client.alarms.list("fraud-dev"))


def test_metrics_endpoint_is_valid_exposition(exporting_app: FastAPI, exporter: Client) -> None:
    _traffic(exporter)
    http = TestClient(exporting_app)
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = parse_exposition(response.text)

    requests = families["mlgov_http_requests_total"]
    routes = {(s["method"], s["route"], s["status"]) for s, _v in requests}
    assert ("POST", "/api/v1/accounts/{account}/metrics", "200") in routes
    assert ("GET", "/api/v1/accounts/{account}/alarms", "200") in routes
    assert "mlgov_http_request_duration_seconds" in families
    assert families["mlgov_outbox_pending_events"][0][1] >= 0
    # Both batches wait in the ingest log until a reader (this export, after it) folds them.
    assert families["mlgov_metric_ingest_log_batches"][0][1] == 2
    assert 0 <= families["mlgov_metric_ingest_log_oldest_age_seconds"][0][1] < 120
    assert {s["state"]: v for s, v in families["mlgov_alarms"]}["INSUFFICIENT_DATA"] == 1

    user = {s["metric"]: (s, v) for s, v in families["mlgov_user_metric_average"]}
    assert set(user) == {"latency"}  # only the opted-in namespace
    labels, total = user["latency"]
    assert total == 20.0
    assert labels["dim_Model_Name"] == 'fraud \\"v2\\"\\\\x'
    assert labels["unit"] == "Milliseconds"


def test_promtool_accepts_the_exposition(exporting_app: FastAPI, exporter: Client) -> None:
    _traffic(exporter)
    text = TestClient(exporting_app).get("/metrics").text
    tool = promtool()
    result = subprocess.run(
        [tool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_metrics_can_require_a_key(settings: Settings) -> None:
    telemetry = TelemetrySettings(prometheus_requires_key=True, prometheus_path="/internal/metrics")
    application = create_app(
        settings.model_copy(update={"telemetry": telemetry}), run_workers=False
    )
    try:
        http = TestClient(application)
        assert http.get("/metrics").status_code == 404
        denied = http.get("/internal/metrics")
        assert denied.status_code == 401 and denied.json()["error"]["code"] == "UNAUTHENTICATED"
        from mlgov.server.db.engine import unit_of_work
        from mlgov.server.identity import service as identity

        with unit_of_work(application.state.runtime.session_factory) as session:
            token = identity.bootstrap(session, "acme").token
        allowed = http.get("/internal/metrics", headers={"authorization": f"Bearer {token}"})
        assert allowed.status_code == 200
        parse_exposition(allowed.text)
    finally:
        application.state.runtime.engine.dispose()


def test_the_parser_catches_broken_text() -> None:
    good = '# HELP x_total x\n# TYPE x_total counter\nx_total{a="1"} 1\n'
    parse_exposition(good)
    for broken in (
        good.rstrip("\n"),
        good + 'x_total{a="1"} 2\n',
        "y 1\n",
        good.replace('a="1"', "a=1"),
        '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n',
    ):
        with pytest.raises(AssertionError):
            parse_exposition(broken)
