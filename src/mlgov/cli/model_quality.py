"""``mlgov quality``: model quality, bias and custom metrics, locally, no server needed.

    mlgov quality merge CAPTURES... --ground-truth GT... --at 2026-01-09T13:00Z \\
        --start-offset -P8D --end-offset -P1D -o merged.parquet
    mlgov quality evaluate DATA... --problem-type BinaryClassification \\
        --ground-truth-attribute label --probability-attribute probability -o statistics.json
    mlgov quality suggest statistics.json -o constraints.json
    mlgov quality check statistics.json --constraints constraints.json -o violations.json
    mlgov quality bias DATA... --label approved --label-values 1 --facet sex --facet-values F \\
        --predicted-label prediction -o analysis.json
    mlgov quality custom wql forecasts.parquet

DATA is any mix of Parquet, CSV and JSON-lines files (SageMaker captures included), directories and
globs. With ``--ground-truth`` (SageMaker ground-truth JSON-lines, or any table with ``eventId``)
the predictions are first merged with their labels on ``inferenceId``, else ``eventId``.

Without ``-o`` the JSON goes to stdout and a summary to stderr. ``check``, and ``evaluate`` or
``bias`` given a baseline, exit 1 when they find violations (``--no-fail-on-violations`` keeps 0)
and 2 when the input cannot be used.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
import typer
from pydantic import BaseModel, ValidationError

from mlgov.analytics.bias import BiasConfig, bias_drift_check, bias_report
from mlgov.analytics.custom import compute_custom_metrics, load_metric
from mlgov.analytics.inputs import (
    DataFormat,
    ReadOptions,
    detect_format,
    iter_batches,
    resolve_paths,
)
from mlgov.analytics.merge import (
    MergeResult,
    MergeWindow,
    merge_ground_truth,
    read_capture_metadata,
)
from mlgov.analytics.model_quality import (
    DEFAULT_CURVE_POINTS,
    compute_model_quality,
    evaluate_model_quality,
    suggest_model_quality_constraints,
    with_custom_metrics,
)
from mlgov.cli._output import EXIT_USAGE, CliError, notice
from mlgov.errors import ErrorCode, InvalidRequest
from mlgov.formats.bias import BiasAnalysis
from mlgov.formats.ground_truth import read_ground_truth
from mlgov.formats.model_quality import (
    ModelQualityConstraints,
    ModelQualityStatistics,
    ProblemType,
)

EXIT_VIOLATIONS = 1
WireModel = TypeVar("WireModel", bound=BaseModel)

app = typer.Typer(
    no_args_is_help=True,
    help="Model quality, bias and custom metrics over predictions and labels (local, no server).",
)

DataArgument = Annotated[
    list[str],
    typer.Argument(help="Parquet, CSV or JSON-lines files (captures too), directories or globs."),
]
OutOption = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Write the result here instead of stdout.", dir_okay=False),
]
GroundTruthOption = Annotated[
    list[str] | None,
    typer.Option(
        "--ground-truth",
        help="Ground-truth files (SageMaker JSON-lines or tables with eventId); repeatable.",
    ),
]
AtOption = Annotated[
    str | None,
    typer.Option(help="Run time the offsets count back from, ISO-8601 (default: now, UTC)."),
]
StartOffsetOption = Annotated[
    str | None,
    typer.Option(help="Window start as an ISO-8601 offset from --at, such as -P8D."),
]
EndOffsetOption = Annotated[
    str | None,
    typer.Option(help="Window end as an ISO-8601 offset from --at, such as -P1D."),
]
FailOption = Annotated[bool, typer.Option(help="Exit 1 when violations are found (0 otherwise).")]


def _usage(error: InvalidRequest) -> CliError:
    return CliError(str(error.code), error.message, EXIT_USAGE)


def _unreadable(source: object, error: Exception) -> CliError:
    """A file that cannot be read or parsed, described on one line."""
    if isinstance(error, ValidationError):
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'document'}: {e['msg']}" for e in error.errors()
        )
        return CliError("INVALID_USAGE", f"{source}: {problems}", EXIT_USAGE)
    return CliError("INVALID_USAGE", f"{source}: {' '.join(str(error).split())}", EXIT_USAGE)


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    else:
        out.write_text(text + "\n", encoding="utf-8")


def _value(text: str) -> Any:
    """A parameter value: JSON when it parses (numbers, lists, objects), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def read_table(paths: Sequence[str]) -> pa.Table:
    """Every file as one table; capture files keep their event ids and inference times."""
    tables = []
    options = ReadOptions()
    for spec in paths:
        for path in resolve_paths(spec):
            if _is_ground_truth(path):
                tables.append(read_ground_truth(path))
                continue
            table = pa.Table.from_batches(list(iter_batches(path, options)))
            if detect_format(path) is DataFormat.CAPTURE:
                metadata = read_capture_metadata(path)
                for name in metadata.column_names:
                    if name not in table.column_names:
                        table = table.append_column(name, metadata.column(name))
            tables.append(table)
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise InvalidRequest(
            f"the files do not share a schema: {error}", code=ErrorCode.INVALID_DATA
        ) from error


def _is_ground_truth(path: Path) -> bool:
    if detect_format(path) is not DataFormat.JSONL:
        return False
    with io.TextIOWrapper(pa.input_stream(str(path), compression="detect"), "utf-8") as lines:
        for line in lines:
            if line.strip():
                return '"groundTruthData"' in line
    return False


def _window(at: str | None, start: str | None, end: str | None) -> MergeWindow | None:
    if start is None and end is None:
        if at is not None:
            raise CliError(
                "INVALID_USAGE", "--at needs --start-offset and --end-offset", EXIT_USAGE
            )
        return None
    if start is None or end is None:
        raise CliError("INVALID_USAGE", "give both --start-offset and --end-offset", EXIT_USAGE)
    moment = datetime.now(UTC)
    if at is not None:
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            raise CliError(
                "INVALID_USAGE", f"--at {at!r} is not an ISO-8601 time", EXIT_USAGE
            ) from None
    return MergeWindow.from_offsets(moment, start, end)


def _merged(
    data: Sequence[str],
    ground_truth: Sequence[str] | None,
    window: MergeWindow | None,
) -> tuple[pa.Table, MergeResult | None]:
    predictions = read_table(data)
    if not ground_truth:
        if window is not None:
            raise CliError(
                "INVALID_USAGE", "a merge window needs --ground-truth to merge with", EXIT_USAGE
            )
        return predictions, None
    result = merge_ground_truth(predictions, read_table(ground_truth), window=window)
    notice(
        f"merged {result.matched} predictions with labels; unmatched: "
        f"{result.unmatched_predictions} predictions, {result.unmatched_labels} labels"
        + (
            f"; {result.predictions_outside_window} predictions outside the window"
            if window is not None
            else ""
        )
    )
    return result.table, result


def _custom_params(pairs: Sequence[str] | None) -> dict[str, dict[str, Any]]:
    params: dict[str, dict[str, Any]] = {}
    for pair in pairs or ():
        left, equals, text = pair.partition("=")
        spec, colon, key = left.rpartition(":")
        if not equals or not colon or not spec or not key:
            raise CliError(
                "INVALID_USAGE",
                f"--custom-param {pair!r}: use SPEC:key=value (e.g. wql:quantiles=p10,p90)",
                EXIT_USAGE,
            )
        params.setdefault(spec, {})[key] = _value(text)
    return params


@app.command("merge")
def merge_command(
    data: DataArgument,
    ground_truth: GroundTruthOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Parquet file for the merged rows.", dir_okay=False),
    ] = None,
    at: AtOption = None,
    start_offset: StartOffsetOption = None,
    end_offset: EndOffsetOption = None,
) -> None:
    """Merge captured predictions with ground truth; print the match counts as JSON."""
    if not ground_truth:
        raise CliError("INVALID_USAGE", "merge needs --ground-truth", EXIT_USAGE)
    try:
        table, result = _merged(data, ground_truth, _window(at, start_offset, end_offset))
    except InvalidRequest as error:
        raise _usage(error) from error
    assert result is not None
    if out is not None:
        pq.write_table(table, out)
    _emit(
        json.dumps(
            {
                "matched": result.matched,
                "unmatched_predictions": result.unmatched_predictions,
                "unmatched_labels": result.unmatched_labels,
                "predictions_outside_window": result.predictions_outside_window,
                "duplicate_labels": result.duplicate_labels,
            },
            indent=2,
        ),
        None,
    )


@app.command("evaluate")
def evaluate_command(
    data: DataArgument,
    problem_type: Annotated[
        ProblemType,
        typer.Option(help="Regression, BinaryClassification or MulticlassClassification."),
    ],
    ground_truth_attribute: Annotated[
        str, typer.Option(help="Column with the actual label (after merging: 'label').")
    ] = "label",
    inference_attribute: Annotated[
        str | None, typer.Option(help="Column with the predicted label or value.")
    ] = None,
    probability_attribute: Annotated[
        str | None, typer.Option(help="Binary: column with the positive-class probability.")
    ] = None,
    probability_threshold: Annotated[
        float, typer.Option(help="Binary: probabilities at or above it predict the positive class.")
    ] = 0.5,
    positive_label: Annotated[
        str, typer.Option(help="Binary: the label of the positive class.")
    ] = "1",
    ground_truth: GroundTruthOption = None,
    at: AtOption = None,
    start_offset: StartOffsetOption = None,
    end_offset: EndOffsetOption = None,
    constraints: Annotated[
        Path | None,
        typer.Option(help="Check the result against this constraints.json.", dir_okay=False),
    ] = None,
    violations_out: Annotated[
        Path | None,
        typer.Option(
            help="Write constraint_violations.json here (with --constraints).", dir_okay=False
        ),
    ] = None,
    custom: Annotated[
        list[str] | None,
        typer.Option(help="Custom metric to add: built-in name, entry point or module:function."),
    ] = None,
    custom_param: Annotated[
        list[str] | None,
        typer.Option(help="A custom metric parameter, SPEC:key=value (JSON values parsed)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the standard-deviation subsamples.")] = 0,
    curve_points: Annotated[
        int, typer.Option(help="Most points kept per ROC / precision-recall curve.", min=2)
    ] = DEFAULT_CURVE_POINTS,
    fail_on_violations: FailOption = True,
    out: OutOption = None,
) -> None:
    """Compute statistics.json (model-quality metrics) over predictions and their labels."""
    rules = _read_model(constraints, ModelQualityConstraints) if constraints is not None else None
    try:
        window = _window(at, start_offset, end_offset)
        table, _ = _merged(data, ground_truth, window)
        statistics = compute_model_quality(
            table,
            problem_type,
            ground_truth_attribute=ground_truth_attribute,
            inference_attribute=inference_attribute,
            probability_attribute=probability_attribute,
            probability_threshold=probability_threshold,
            positive_label=positive_label,
            seed=seed,
            curve_points=curve_points,
        )
        if custom:
            values = compute_custom_metrics(table, custom, _custom_params(custom_param))
            statistics = with_custom_metrics(statistics, values)
        violations = evaluate_model_quality(statistics, rules) if rules is not None else None
    except InvalidRequest as error:
        raise _usage(error) from error
    _emit(statistics.to_json(), out)
    assert statistics.dataset is not None
    notice(f"evaluated {statistics.dataset.item_count} rows ({problem_type})")
    if violations is not None:
        if violations_out is not None:
            _emit(violations.to_json(), violations_out)
        _report_violations([v.metric_name for v in violations.violations], fail_on_violations)


@app.command("suggest")
def suggest_command(
    statistics: Annotated[
        Path, typer.Argument(help="A model-quality statistics.json.", dir_okay=False)
    ],
    deviations: Annotated[
        float,
        typer.Option(help="Loosen each threshold by this many standard deviations.", min=0),
    ] = 0.0,
    out: OutOption = None,
) -> None:
    """Suggest constraints.json from a baseline's statistics, as SageMaker does."""
    baseline = _read_model(statistics, ModelQualityStatistics)
    suggested = suggest_model_quality_constraints(baseline, deviations=deviations)
    _emit(suggested.to_json(), out)
    notice(f"suggested {len(suggested.constraints)} constraints")


@app.command("check")
def check_command(
    statistics: Annotated[
        Path, typer.Argument(help="A model-quality statistics.json.", dir_okay=False)
    ],
    constraints: Annotated[
        Path, typer.Option("--constraints", help="The constraints.json.", dir_okay=False)
    ],
    fail_on_violations: FailOption = True,
    out: OutOption = None,
) -> None:
    """Check statistics against constraints: constraint_violations.json, exit 1 on violations."""
    current = _read_model(statistics, ModelQualityStatistics)
    rules = _read_model(constraints, ModelQualityConstraints)
    try:
        violations = evaluate_model_quality(current, rules)
    except InvalidRequest as error:
        raise _usage(error) from error
    _emit(violations.to_json(), out)
    _report_violations([v.metric_name for v in violations.violations], fail_on_violations)


@app.command("bias")
def bias_command(
    data: DataArgument,
    label: Annotated[str, typer.Option(help="Column with the observed label.")],
    facet: Annotated[str, typer.Option(help="Column with the facet (sensitive attribute).")],
    label_values: Annotated[
        str | None, typer.Option(help="Comma-separated positive label values.")
    ] = None,
    label_threshold: Annotated[
        float | None, typer.Option(help="Labels above this are positive.")
    ] = None,
    facet_values: Annotated[
        str | None,
        typer.Option(help="Comma-separated facet values of the sensitive group (default: each)."),
    ] = None,
    facet_threshold: Annotated[
        float | None, typer.Option(help="Facet values above this are the sensitive group.")
    ] = None,
    predicted_label: Annotated[
        str | None, typer.Option(help="Column with predictions: enables post-training metrics.")
    ] = None,
    probability_threshold: Annotated[
        float | None, typer.Option(help="Predictions are scores; at or above this is positive.")
    ] = None,
    group_variable: Annotated[
        str | None, typer.Option(help="Column of subgroups for CDDL / CDDPL.")
    ] = None,
    methods: Annotated[str, typer.Option(help="Comma-separated metric names, or all.")] = "all",
    bootstrap: Annotated[
        int, typer.Option(help="Bootstrap samples for confidence intervals (0: none).", min=0)
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    ground_truth: GroundTruthOption = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="A baseline analysis.json: check for bias drift against it.", dir_okay=False
        ),
    ] = None,
    violations_out: Annotated[
        Path | None,
        typer.Option(
            help="Write the bias-drift violations here (with --baseline).", dir_okay=False
        ),
    ] = None,
    fail_on_violations: FailOption = True,
    out: OutOption = None,
) -> None:
    """Clarify bias metrics (analysis.json), and bias drift against a baseline."""
    reference = _read_model(baseline, BiasAnalysis) if baseline is not None else None
    try:
        config = BiasConfig(
            label=label,
            facet=facet,
            label_values=_split(label_values),
            label_threshold=label_threshold,
            facet_values=_split(facet_values),
            facet_threshold=facet_threshold,
            predicted_label=predicted_label,
            probability_threshold=probability_threshold,
            group_variable=group_variable,
        )
        table, _ = _merged(data, ground_truth, None)
        report = bias_report(
            table,
            config,
            methods="all" if methods == "all" else _split(methods) or [],
            bootstrap_samples=bootstrap,
            seed=seed,
        )
        violations = bias_drift_check(report, reference) if reference is not None else None
    except InvalidRequest as error:
        raise _usage(error) from error
    _emit(report.to_json(), out)
    if violations is not None:
        if violations_out is not None:
            _emit(violations.to_json(), violations_out)
        _report_violations(
            [f"{v.metric_name} ({v.facet}={v.facet_value})" for v in violations.violations],
            fail_on_violations,
        )


@app.command("custom")
def custom_command(
    spec: Annotated[
        str,
        typer.Argument(help="Built-in name (wql, mape, smape), entry point or module:function."),
    ],
    data: DataArgument,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="key=value passed to the metric (JSON values parsed)."),
    ] = None,
    out: OutOption = None,
) -> None:
    """Run one custom metric over DATA and print its named values as JSON."""
    params: dict[str, Any] = {}
    for pair in param or ():
        key, equals, text = pair.partition("=")
        if not equals or not key:
            raise CliError("INVALID_USAGE", f"--param {pair!r}: use key=value", EXIT_USAGE)
        params[key] = _value(text)
    try:
        metric = load_metric(spec)
        values = metric(read_table(data), **params)
    except InvalidRequest as error:
        raise _usage(error) from error
    _emit(json.dumps(values, indent=2), out)
    notice(f"{spec} ({metric.source}): {len(values)} value(s)")


def _read_model(path: Path, model: type[WireModel]) -> WireModel:
    try:
        return model.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise _unreadable(path, error) from error


def _report_violations(found: list[str], fail_on_violations: bool) -> None:
    if found:
        notice(f"{len(found)} violation(s): {', '.join(found)}")
        if fail_on_violations:
            raise typer.Exit(EXIT_VIOLATIONS)
    else:
        notice("no violations")
