"""``mlgov baseline``: profile data, suggest constraints and check data locally, no server needed.

    mlgov baseline profile DATA... -o statistics.json
    mlgov baseline suggest statistics.json -o constraints.json
    mlgov baseline check DATA... --statistics statistics.json --constraints constraints.json \\
        -o constraint_violations.json
    mlgov baseline drift statistics.json DATA... --method auto
    mlgov baseline merge part-1.json part-2.json -o statistics.json

DATA is any mix of Parquet, CSV and JSON-lines files (SageMaker captures included), directories
and globs. Without ``-o`` the JSON goes to stdout; a summary goes to stderr.

``check`` exits 0 when the data passes, 1 when it found violations (so a pipeline step fails on
drift, like a linter on findings; ``--no-fail-on-violations`` keeps 0), and 2 when the input
cannot be used (unreadable data, a malformed baseline, a bad option).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from mlgov.analytics.drift import DriftMethod, compare
from mlgov.analytics.inputs import DataFormat, PreprocessHandler, ReadOptions
from mlgov.analytics.profile import DEFAULT_KLL_K, merge, profile
from mlgov.analytics.violations import baseline_naming_options
from mlgov.analytics.violations import check as run_check
from mlgov.cli._output import EXIT_USAGE, CliError, notice
from mlgov.errors import InvalidRequest
from mlgov.formats.baseline import Constraints, Statistics

EXIT_VIOLATIONS = 1

app = typer.Typer(
    no_args_is_help=True,
    help="Profile data, suggest constraints and check violations (local, no server).",
)

DataArgument = Annotated[
    list[str],
    typer.Argument(help="Parquet, CSV or JSON-lines files (captures too), directories or globs."),
]
OutOption = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Write the JSON here instead of stdout.", dir_okay=False),
]
FormatOption = Annotated[
    DataFormat | None,
    typer.Option("--format", help="Read every file as this format instead of by suffix."),
]
BatchSizeOption = Annotated[
    int, typer.Option(help="Rows per batch; peak memory follows it.", min=1)
]
HeaderOption = Annotated[
    bool, typer.Option("--header/--no-header", help="Whether CSV files start with a header row.")
]
DelimiterOption = Annotated[str, typer.Option(help="CSV field delimiter.")]
ColumnNamesOption = Annotated[
    str | None,
    typer.Option(
        help="Comma-separated names for positional columns (headerless CSV, capture payloads)."
    ),
]
CaptureIndexOption = Annotated[
    str,
    typer.Option(help="Comma-separated capture parts to read; outputs become the first columns."),
]
PreprocessorOption = Annotated[
    str | None,
    typer.Option(
        help="A record preprocessor, module:function or path/to/script.py:function, "
        "called with each capture record; returns a flat dict, or nothing to skip it."
    ),
]
KllOption = Annotated[int, typer.Option(help="KLL sketch size k (accuracy vs. size).", min=8)]


def _usage(exc: InvalidRequest) -> CliError:
    return CliError(str(exc.code), exc.message, EXIT_USAGE)


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def load_handler(spec: str) -> PreprocessHandler:
    """Import ``module:function`` or ``path/to/file.py:function``."""
    target, _, name = spec.rpartition(":")
    if not target or not name:
        raise CliError("INVALID_USAGE", f"--preprocessor {spec!r}: use module:function", EXIT_USAGE)
    try:
        if target.endswith(".py"):
            module_spec = importlib.util.spec_from_file_location("_mlgov_preprocessor", target)
            if module_spec is None or module_spec.loader is None:
                raise ImportError(f"cannot load {target}")
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except (ImportError, OSError, SyntaxError) as exc:
        raise CliError("INVALID_USAGE", f"--preprocessor {spec!r}: {exc}", EXIT_USAGE) from exc
    handler = getattr(module, name, None)
    if not callable(handler):
        raise CliError(
            "INVALID_USAGE", f"--preprocessor {spec!r}: {name} is not a function", EXIT_USAGE
        )
    function: Callable[..., Any] = handler
    return function


def _read_options(
    data_format: DataFormat | None,
    batch_size: int,
    header: bool,
    delimiter: str,
    column_names: str | None,
    capture_index_names: str,
    preprocessor: str | None,
) -> ReadOptions:
    try:
        return ReadOptions(
            batch_size=batch_size,
            format=data_format,
            csv_header=header,
            csv_delimiter=delimiter,
            column_names=_split(column_names),
            capture_index_names=tuple(_split(capture_index_names) or ()),
            preprocess_handler=load_handler(preprocessor) if preprocessor else None,
        )
    except InvalidRequest as exc:
        raise _usage(exc) from exc


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    else:
        out.write_text(text + "\n", encoding="utf-8")


def _load_statistics(path: Path) -> Statistics:
    try:
        return Statistics.read(path)
    except InvalidRequest as exc:
        raise _usage(exc) from exc


@app.command("profile")
def profile_command(
    data: DataArgument,
    out: OutOption = None,
    data_format: FormatOption = None,
    batch_size: BatchSizeOption = 65_536,
    header: HeaderOption = True,
    delimiter: DelimiterOption = ",",
    column_names: ColumnNamesOption = None,
    capture_index_names: CaptureIndexOption = "endpointInput,endpointOutput",
    preprocessor: PreprocessorOption = None,
    kll_k: KllOption = DEFAULT_KLL_K,
) -> None:
    """Profile DATA into statistics.json (SageMaker's shape, plus mergeable sketches)."""
    options = _read_options(
        data_format, batch_size, header, delimiter, column_names, capture_index_names, preprocessor
    )
    try:
        statistics = profile(data, options=options, kll_k=kll_k)
    except InvalidRequest as exc:
        raise _usage(exc) from exc
    _emit(statistics.dump_json(), out)
    notice(
        f"profiled {statistics.dataset.item_count} rows, {len(statistics.features)} features"
        + (f" -> {out}" if out else "")
    )


@app.command("suggest")
def suggest_command(
    statistics: Annotated[Path, typer.Argument(help="A statistics.json.", dir_okay=False)],
    out: OutOption = None,
) -> None:
    """Suggest constraints.json from a statistics.json, with SageMaker's defaults."""
    from mlgov.analytics.constraints import suggest_constraints

    constraints = suggest_constraints(_load_statistics(statistics))
    _emit(constraints.dump_json(), out)
    notice(f"suggested constraints for {len(constraints.features)} features")


@app.command("check")
def check_command(
    data: DataArgument,
    statistics: Annotated[
        Path, typer.Option("--statistics", help="The baseline statistics.json.", dir_okay=False)
    ],
    constraints: Annotated[
        Path, typer.Option("--constraints", help="The baseline constraints.json.", dir_okay=False)
    ],
    out: OutOption = None,
    statistics_out: Annotated[
        Path | None,
        typer.Option(help="Also write the current data's statistics.json here.", dir_okay=False),
    ] = None,
    drift: Annotated[
        str | None,
        typer.Option(
            help="Replace the constraints' drift method for every feature: auto, "
            + ", ".join(method.value for method in DriftMethod)
            + "."
        ),
    ] = None,
    fail_on_violations: Annotated[
        bool,
        typer.Option(help="Exit 1 when violations are found (0 otherwise)."),
    ] = True,
    data_format: FormatOption = None,
    batch_size: BatchSizeOption = 65_536,
    header: HeaderOption = True,
    delimiter: DelimiterOption = ",",
    column_names: ColumnNamesOption = None,
    capture_index_names: CaptureIndexOption = "endpointInput,endpointOutput",
    preprocessor: PreprocessorOption = None,
    kll_k: KllOption = DEFAULT_KLL_K,
) -> None:
    """Check DATA against a baseline: constraint_violations.json, exit 1 on violations."""
    options = _read_options(
        data_format, batch_size, header, delimiter, column_names, capture_index_names, preprocessor
    )
    baseline = _load_statistics(statistics)
    try:
        rules = Constraints.read(constraints)
        report = run_check(
            data, baseline, rules, options=options, drift=_drift_choice(drift), kll_k=kll_k
        )
    except InvalidRequest as exc:
        raise _usage(exc) from exc
    _emit(report.violations.dump_json(), out)
    if statistics_out is not None:
        report.statistics.write(statistics_out)
    found = report.violations.violations
    if found:
        kinds = Counter(str(violation.constraint_check_type) for violation in found)
        summary = ", ".join(f"{kind}: {count}" for kind, count in sorted(kinds.items()))
        notice(f"{len(found)} violation(s) ({summary})")
    else:
        notice("no violations")
    if found and fail_on_violations:
        raise typer.Exit(EXIT_VIOLATIONS)


def _drift_choice(text: str | None) -> DriftMethod | Literal["auto"] | None:
    if text is None:
        return None
    if text == "auto":
        return "auto"
    try:
        return DriftMethod(text)
    except ValueError:
        choices = ", ".join(["auto", *(method.value for method in DriftMethod)])
        raise CliError(
            "INVALID_USAGE", f"--drift {text!r}: choose one of {choices}", EXIT_USAGE
        ) from None


@app.command("drift")
def drift_command(
    baseline: Annotated[Path, typer.Argument(help="The baseline statistics.json.", dir_okay=False)],
    data: DataArgument,
    method: Annotated[
        str, typer.Option(help="auto (Evidently's table) or one drift method for every feature.")
    ] = "auto",
    threshold: Annotated[
        float | None, typer.Option(help="Threshold for every feature (method default if unset).")
    ] = None,
    out: OutOption = None,
    data_format: FormatOption = None,
    batch_size: BatchSizeOption = 65_536,
    header: HeaderOption = True,
    delimiter: DelimiterOption = ",",
    column_names: ColumnNamesOption = None,
    capture_index_names: CaptureIndexOption = "endpointInput,endpointOutput",
    preprocessor: PreprocessorOption = None,
    kll_k: KllOption = DEFAULT_KLL_K,
) -> None:
    """Drift of every feature of DATA against a baseline, each result naming its method.

    Headerless CSV and capture payloads take the baseline's feature names by position.
    """
    options = _read_options(
        data_format, batch_size, header, delimiter, column_names, capture_index_names, preprocessor
    )
    choice = _drift_choice(method)
    base = _load_statistics(baseline)
    try:
        named = baseline_naming_options(data, options, [f.name for f in base.features])
        current = profile(data, options=named, kll_k=kll_k)
        results = compare(
            base,
            current,
            method=choice or "auto",
            threshold=threshold,
        )
    except InvalidRequest as exc:
        raise _usage(exc) from exc
    _emit(json.dumps([result.model_dump(mode="json") for result in results], indent=2), out)
    drifted = [result.feature_name for result in results if result.drifted]
    notice(
        f"{len(drifted)} of {len(results)} features drifted"
        + (f": {', '.join(drifted)}" if drifted else "")
    )


@app.command("merge")
def merge_command(
    parts: Annotated[
        list[Path], typer.Argument(help="statistics.json files of disjoint parts of a dataset.")
    ],
    out: OutOption = None,
) -> None:
    """Merge profiles of parts (days, partitions, workers) into the profile of the whole."""
    loaded = [_load_statistics(part) for part in parts]
    try:
        merged = merge(*loaded)
    except InvalidRequest as exc:
        raise _usage(exc) from exc
    _emit(merged.dump_json(), out)
    notice(f"merged {len(loaded)} profiles: {merged.dataset.item_count} rows")
