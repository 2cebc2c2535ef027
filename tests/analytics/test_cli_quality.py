"""``mlgov quality``: captures and ground truth on disk to statistics, constraints and verdicts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from sklearn import metrics as sk
from typer.testing import CliRunner, Result

from mlgov.cli import model_quality
from mlgov.cli.app import _Root
from mlgov.formats.ground_truth import GroundTruthRecord, write_ground_truth

# Mounted the way the root `mlgov` app mounts it, so errors become exit codes as in production.
root = typer.Typer(cls=_Root)
root.add_typer(model_quality.app, name="quality")
RUN_AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def mlgov(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(root, ["quality", *args], catch_exceptions=False)
    assert result.exit_code == code, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result


def write_captures(path: Path, probabilities: np.ndarray, hours_ago: np.ndarray) -> list[str]:
    """Capture JSON-lines, SageMaker layout; every third call passed its own inferenceId."""
    keys = []
    with path.open("w") as stream:
        for i, (probability, hours) in enumerate(zip(probabilities, hours_ago, strict=True)):
            metadata = {
                "eventId": f"event-{i}",
                "inferenceTime": (RUN_AT - timedelta(hours=float(hours))).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
            }
            if i % 3 == 0:
                metadata["inferenceId"] = f"caller-{i}"
            keys.append(metadata.get("inferenceId", metadata["eventId"]))
            record = {
                "captureData": {
                    "endpointInput": {
                        "observedContentType": "text/csv",
                        "mode": "INPUT",
                        "data": f"{i},{i % 7}",
                        "encoding": "CSV",
                    },
                    "endpointOutput": {
                        "observedContentType": "text/csv; charset=utf-8",
                        "mode": "OUTPUT",
                        "data": f"{probability:.6f}",
                        "encoding": "CSV",
                    },
                },
                "eventMetadata": metadata,
                "eventVersion": "0",
            }
            stream.write(json.dumps(record) + "\n")
    return keys


@pytest.fixture
def scenario(tmp_path: Path) -> dict[str, object]:
    rng = np.random.default_rng(1)
    n = 400
    labels = rng.integers(0, 2, n)
    probabilities = np.clip(labels * 0.3 + rng.random(n) * 0.7, 0, 1).round(6)
    hours_ago = rng.uniform(0, 240, n)  # ten days of traffic
    captures = tmp_path / "captures.jsonl"
    keys = write_captures(captures, probabilities, hours_ago)
    truth = tmp_path / "ground_truth.jsonl"
    labelled = [GroundTruthRecord.for_label(k, int(y)) for k, y in zip(keys, labels, strict=True)]
    with truth.open("w") as stream:
        write_ground_truth(labelled[:-10], stream)  # the last ten labels have not arrived
    return {
        "captures": captures,
        "truth": truth,
        "labels": labels,
        "probabilities": probabilities,
        "hours_ago": hours_ago,
        "dir": tmp_path,
    }


def test_merge_reports_counts_and_writes_the_merged_rows(scenario: dict[str, object]) -> None:
    out = Path(str(scenario["dir"])) / "merged.parquet"
    window = ["--at", RUN_AT.isoformat(), "--start-offset", "-P8D", "--end-offset", "-P1D"]
    result = mlgov(
        "merge",
        str(scenario["captures"]),
        "--ground-truth",
        str(scenario["truth"]),
        *window,
        "-o",
        str(out),
    )
    counts = json.loads(result.stdout)
    hours = np.asarray(scenario["hours_ago"])
    in_window = (hours > 24) & (hours <= 192)
    labelled = np.arange(len(hours)) < len(hours) - 10
    assert counts["matched"] == int(np.sum(in_window & labelled))
    assert counts["unmatched_predictions"] == int(np.sum(in_window & ~labelled))
    assert counts["predictions_outside_window"] == int(np.sum(~in_window))
    merged = pq.read_table(out)
    assert {"_c0", "eventId", "inferenceId", "inferenceTime", "label"} <= set(merged.column_names)
    assert merged.num_rows == counts["matched"]


def test_evaluate_suggest_check_round_trip(scenario: dict[str, object]) -> None:
    directory = Path(str(scenario["dir"]))
    statistics = directory / "statistics.json"
    mlgov(
        "evaluate",
        str(scenario["captures"]),
        "--ground-truth",
        str(scenario["truth"]),
        "--problem-type",
        "BinaryClassification",
        "--probability-attribute",
        "_c0",
        "--probability-threshold",
        "0.6",
        "-o",
        str(statistics),
    )
    document = json.loads(statistics.read_text())
    metrics = document["binary_classification_metrics"]
    labels = np.asarray(scenario["labels"])[:-10]
    probabilities = np.asarray(scenario["probabilities"])[:-10]
    assert document["dataset"]["item_count"] == len(labels)
    assert metrics["auc"]["value"] == pytest.approx(sk.roc_auc_score(labels, probabilities))
    assert metrics["f1"]["value"] == pytest.approx(sk.f1_score(labels, probabilities >= 0.6))
    assert isinstance(metrics["f1"]["standard_deviation"], float)

    constraints = directory / "constraints.json"
    mlgov("suggest", str(statistics), "--deviations", "1", "-o", str(constraints))
    suggested = json.loads(constraints.read_text())["binary_classification_constraints"]
    assert suggested["auc"]["comparison_operator"] == "LessThanThreshold"

    violations = directory / "violations.json"
    result = mlgov(
        "check", str(statistics), "--constraints", str(constraints), "-o", str(violations)
    )
    assert json.loads(violations.read_text()) == {"violations": []}
    assert "no violations" in result.stderr

    # A model that lost its signal: same labels, random scores.
    degraded = directory / "degraded.parquet"
    pq.write_table(
        pa.table({"label": labels, "probability": np.random.default_rng(5).random(len(labels))}),
        degraded,
    )
    report = directory / "degraded_violations.json"
    result = mlgov(
        "evaluate",
        str(degraded),
        "--problem-type",
        "BinaryClassification",
        "--probability-attribute",
        "probability",
        "--constraints",
        str(constraints),
        "--violations-out",
        str(report),
        "-o",
        str(directory / "degraded.json"),
        code=1,
    )
    names = {v["metric_name"] for v in json.loads(report.read_text())["violations"]}
    assert "auc" in names
    assert "violation(s)" in result.stderr
    mlgov(
        "evaluate",
        str(degraded),
        "--problem-type",
        "BinaryClassification",
        "--probability-attribute",
        "probability",
        "--constraints",
        str(constraints),
        "--no-fail-on-violations",
        "-o",
        str(directory / "degraded.json"),
    )


def test_evaluate_with_a_custom_metric_added_to_the_statistics(tmp_path: Path) -> None:
    data = tmp_path / "scores.csv"
    data.write_text("label,prediction,target,mean\n1,1,10,9\n0,0,20,22\n1,0,5,5\n")
    result = mlgov(
        "evaluate",
        str(data),
        "--problem-type",
        "BinaryClassification",
        "--inference-attribute",
        "prediction",
        "--custom",
        "mape",
    )
    metrics = json.loads(result.stdout)["binary_classification_metrics"]
    assert metrics["mape"]["value"] == pytest.approx((0.1 + 0.1 + 0.0) / 3)
    assert metrics["mape"]["standard_deviation"] == "NaN"


def test_bias_report_and_drift_against_a_baseline(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    n = 2000
    facet = rng.random(n) < 0.4
    labels = rng.random(n) < 0.5
    fair = np.where(rng.random(n) < 0.85, labels, ~labels)
    baseline_data = tmp_path / "baseline.parquet"
    current_data = tmp_path / "current.parquet"

    def table(predicted: np.ndarray) -> pa.Table:
        return pa.table(
            {
                "sex": np.where(facet, "F", "M"),
                "approved": labels.astype(int),
                "predicted": predicted.astype(int),
            }
        )

    pq.write_table(table(fair), baseline_data)
    pq.write_table(table(fair & ~(facet & (rng.random(n) < 0.6))), current_data)
    options = [
        "--label",
        "approved",
        "--label-values",
        "1",
        "--facet",
        "sex",
        "--facet-values",
        "F",
        "--predicted-label",
        "predicted",
        "--methods",
        "CI,DPL,DPPL,DI",
        "--bootstrap",
        "100",
    ]
    analysis = tmp_path / "analysis.json"
    mlgov("bias", str(baseline_data), *options, "-o", str(analysis))
    report = json.loads(analysis.read_text())
    (post,) = report["post_training_bias_metrics"]["facets"]["sex"]
    assert [m["name"] for m in post["metrics"]] == ["DPPL", "DI"]

    mlgov(
        "bias",
        str(baseline_data),
        *options,
        "--baseline",
        str(analysis),
        "-o",
        str(tmp_path / "again.json"),
    )
    violations = tmp_path / "bias_violations.json"
    result = mlgov(
        "bias",
        str(current_data),
        *options,
        "--baseline",
        str(analysis),
        "--violations-out",
        str(violations),
        "-o",
        str(tmp_path / "current.json"),
        code=1,
    )
    found = json.loads(violations.read_text())["violations"]
    assert {v["metric_name"] for v in found} == {"DPPL", "DI"}
    assert all(v["constraint_check_type"] == "bias_drift_check" for v in found)
    assert "DPPL (sex=F)" in result.stderr


def test_custom_metric_over_a_forecast_file(tmp_path: Path) -> None:
    forecast = tmp_path / "forecast.parquet"
    pq.write_table(
        pa.table(
            {
                "item_id": ["A", "A", "B"],
                "target": [10.0, 12.0, 5.0],
                "p10": [8.0, 9.0, 3.0],
                "p50": [10.0, 11.0, 5.0],
                "p90": [12.0, 14.0, 7.0],
            }
        ),
        forecast,
    )
    result = mlgov("custom", "wql", str(forecast), "--param", "quantiles=p50")
    # Median errors 0, 1, 0: pinball 0.5 * 1; wQL = 2 * 0.5 / 27.
    assert json.loads(result.stdout) == {
        "wQL[0.5]": pytest.approx(1 / 27),
        "mean_wQL": pytest.approx(1 / 27),
    }
    assert "wql (builtin)" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["custom", "no_such_metric", "{data}"], "unknown custom metric"),
        (["custom", "wql", "{data}", "--param", "novalue"], "use key=value"),
        (["evaluate", "{data}", "--problem-type", "Regression"], "inference attribute"),
        (["merge", "{data}"], "needs --ground-truth"),
        (
            [
                "evaluate",
                "{data}",
                "--problem-type",
                "Regression",
                "--inference-attribute",
                "label",
                "--start-offset",
                "-P1D",
            ],
            "both --start-offset",
        ),
        (["check", "{data}", "--constraints", "{data}"], "INVALID_USAGE"),
    ],
)
def test_unusable_input_exits_2_with_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    data = tmp_path / "data.csv"
    data.write_text("label\n1\n")
    result = mlgov(*[a.replace("{data}", str(data)) for a in args], code=2)
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_real_mlgov_command_mounts_quality() -> None:
    from mlgov.cli import app as cli_module

    cli_module._mount()
    result = CliRunner().invoke(cli_module.app, ["quality", "--help"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for command in ("merge", "evaluate", "suggest", "check", "bias", "custom"):
        assert command in result.stdout
    listing = CliRunner().invoke(cli_module.app, ["--help"], catch_exceptions=False)
    assert "quality" in listing.stdout and "baseline" in listing.stdout
