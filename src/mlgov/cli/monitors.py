"""``mlgov baselines`` and ``mlgov monitors``: baselines, monitors on endpoints or batch
transform jobs, executions.

mlgov baselines upload train.csv -a fraud-dev
mlgov baselines create bl -a fraud-dev --dataset train.csv
mlgov baselines import sm -a fraud-dev --statistics statistics.json --constraints constraints.json
mlgov monitors create dq -a fraud-dev --endpoint churn --baseline bl --schedule 'rate(1 hour)'
mlgov monitors create nightly-dq -a fraud-dev --transform-job nightly --baseline bl
mlgov monitors run dq -a fraud-dev --start 2h --end 0s --wait
mlgov monitors executions dq -a fraud-dev
mlgov monitors report dq EXECUTION constraint_violations.json -a fraud-dev
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from mlgov.cli._connection import connect
from mlgov.cli._output import Column, Format, OutputOption, print_json, render_list, render_object
from mlgov.cli._params import TIME_HELP, Account, past_time

baselines_app = typer.Typer(
    no_args_is_help=True, help="Baselines on the server: datasets, baseline jobs, imports."
)
app = typer.Typer(
    no_args_is_help=True,
    help="Monitors on endpoints or batch transform jobs, and their executions.",
)

BaselineName = Annotated[str, typer.Argument(metavar="BASELINE", help="Baseline name.")]
MonitorName = Annotated[str, typer.Argument(metavar="MONITOR", help="Monitor name.")]
ExecutionId = Annotated[str, typer.Argument(metavar="EXECUTION", help="Execution id.")]
Time = Annotated[
    datetime | None, typer.Option(parser=past_time, metavar="TIME", help=f"{TIME_HELP}, ago.")
]
BASELINE_COLUMNS = [
    Column("NAME", "name"),
    Column("TYPE", "type"),
    Column("SOURCE", "source"),
    Column("DATASET", "dataset"),
    Column("FILES", lambda b: ", ".join(b["files"])),
    Column("CREATED", "created_at"),
]
MONITOR_COLUMNS = [
    Column("NAME", "name"),
    Column("ENDPOINT", "endpoint"),
    Column("TRANSFORM JOB", "transform_job"),
    Column("TYPE", "type"),
    Column("BASELINE", "baseline"),
    Column("SCHEDULE", "schedule"),
    Column("STATUS", "status"),
    Column("NEXT RUN", "next_run_at"),
]
EXECUTION_COLUMNS = [
    Column("ID", "id"),
    Column("STATUS", "status"),
    Column("TRIGGER", "trigger"),
    Column("WINDOW START", "window_start"),
    Column("WINDOW END", "window_end"),
    Column("VIOLATIONS", "violation_count"),
    Column("FAILURE", "failure_reason"),
]


def _json_option(text: str | None, option: str) -> dict[str, Any]:
    if not text:
        return {}
    raw = Path(text[1:]).read_text(encoding="utf-8") if text.startswith("@") else text
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint=option) from None
    if not isinstance(value, dict):
        raise typer.BadParameter("must be a JSON object", param_hint=option)
    return value


def _model_quality(
    problem_type: str | None,
    inference: str | None,
    probability: str | None,
    label: str | None,
) -> dict[str, Any] | None:
    if problem_type is None:
        if inference or probability or label:
            raise typer.BadParameter("needs --problem-type", param_hint="--problem-type")
        return None
    settings: dict[str, Any] = {"problem_type": problem_type}
    for key, value in (
        ("inference_attribute", inference),
        ("probability_attribute", probability),
        ("ground_truth_attribute", label),
    ):
        if value is not None:
            settings[key] = value
    return settings


ProblemType = Annotated[
    str | None,
    typer.Option(help="Model quality: Regression, BinaryClassification, MulticlassClassification."),
]
InferenceAttribute = Annotated[
    str | None, typer.Option(help="Column (or capture position: 0) of the predicted label/value.")
]
ProbabilityAttribute = Annotated[
    str | None, typer.Option(help="Binary: column (or capture position) of the probability.")
]
LabelAttribute = Annotated[
    str | None, typer.Option("--label-attribute", help="Column of the actual label.")
]


# --- baselines -----------------------------------------------------------------------------------


@baselines_app.command("upload")
def upload(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Parquet/CSV/JSONL.")],
    account: Account,
    name: Annotated[str | None, typer.Option(help="Name on the server (default: file name).")] = (
        None
    ),
    output: OutputOption = Format.TABLE,
) -> None:
    """Upload a dataset for baseline jobs."""
    with connect() as client:
        render_object(client.monitoring.upload_dataset(account, name or file.name, file), output)


@baselines_app.command("datasets")
def datasets(account: Account, output: OutputOption = Format.TABLE) -> None:
    """List the account's uploaded datasets."""
    with connect() as client:
        render_list(
            client.monitoring.list_datasets(account),
            [Column("NAME", "name"), Column("PATH", "path"), Column("SIZE", "size")],
            output,
        )


@baselines_app.command("create")
def create_baseline(
    name: BaselineName,
    account: Account,
    dataset: Annotated[str | None, typer.Option(help="An uploaded dataset.")] = None,
    path: Annotated[
        str | None, typer.Option(help="Or an account path: datasets/..., capture/...")
    ] = None,
    type: Annotated[str, typer.Option(help="data_quality, model_quality or bias.")] = (
        "data_quality"
    ),
    problem_type: ProblemType = None,
    inference_attribute: InferenceAttribute = None,
    probability_attribute: ProbabilityAttribute = None,
    label_attribute: LabelAttribute = None,
    bias: Annotated[
        str | None, typer.Option(metavar="JSON|@FILE", help="Bias settings (label, facet, ...).")
    ] = None,
    comparison_threshold: Annotated[
        float | None, typer.Option(help="Drift threshold written into constraints.json.")
    ] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Run a baseline job over a dataset now (statistics.json + constraints.json)."""
    model_quality = _model_quality(
        problem_type, inference_attribute, probability_attribute, label_attribute
    )
    with connect() as client:
        created = client.monitoring.create_baseline(
            account,
            name,
            type="model_quality" if model_quality and type == "data_quality" else type,
            dataset=dataset,
            path=path,
            model_quality=model_quality,
            bias=_json_option(bias, "--bias") or None,
            comparison_threshold=comparison_threshold,
        )
    render_object(created, output)


@baselines_app.command("import")
def import_baseline(
    name: BaselineName,
    account: Account,
    statistics: Annotated[Path | None, typer.Option(exists=True, dir_okay=False)] = None,
    constraints: Annotated[Path | None, typer.Option(exists=True, dir_okay=False)] = None,
    analysis: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Clarify analysis.json.")
    ] = None,
    type: Annotated[str, typer.Option(help="data_quality, model_quality or bias.")] = (
        "data_quality"
    ),
    output: OutputOption = Format.TABLE,
) -> None:
    """Import SageMaker baseline files unchanged."""
    with connect() as client:
        created = client.monitoring.import_baseline(
            account,
            name,
            type=type,
            statistics=statistics,
            constraints=constraints,
            analysis=analysis,
        )
    render_object(created, output)


@baselines_app.command("list")
def list_baselines(account: Account, output: OutputOption = Format.TABLE) -> None:
    """List the account's baselines."""
    with connect() as client:
        render_list(client.monitoring.list_baselines(account), BASELINE_COLUMNS, output)


@baselines_app.command("get")
def get_baseline(name: BaselineName, account: Account, output: OutputOption = Format.TABLE) -> None:
    """Show one baseline."""
    with connect() as client:
        render_object(client.monitoring.get_baseline(account, name), output)


@baselines_app.command("download")
def download(
    name: BaselineName,
    file: Annotated[str, typer.Argument(help="statistics.json, constraints.json, ...")],
    account: Account,
    out: Annotated[Path | None, typer.Option("--out", dir_okay=False)] = None,
) -> None:
    """Print (or save) one of the baseline's files."""
    with connect() as client:
        document = client.monitoring.download_baseline_file(account, name, file)
    _write(document, out)


@baselines_app.command("delete")
def delete_baseline(name: BaselineName, account: Account) -> None:
    """Delete a baseline no monitor uses."""
    with connect() as client:
        client.monitoring.delete_baseline(account, name)
    print(f"baseline {name} deleted", file=sys.stderr)


def _write(document: Any, out: Path | None) -> None:
    if out is None:
        print_json(document)
    else:
        out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


# --- monitors ------------------------------------------------------------------------------------


@app.command("create")
def create(
    name: MonitorName,
    account: Account,
    endpoint: Annotated[
        str | None, typer.Option(help="The endpoint whose captures it checks.")
    ] = None,
    transform_job: Annotated[
        str | None,
        typer.Option(help="Or the batch transform job (run with --capture) whose captures."),
    ] = None,
    baseline: Annotated[str | None, typer.Option(help="Baseline name.")] = None,
    type: Annotated[
        str, typer.Option(help="data_quality, model_quality, bias or custom_metric.")
    ] = "data_quality",
    schedule: Annotated[
        str | None, typer.Option(help="cron(0 * ? * * *), a crontab or rate(1 hour).")
    ] = None,
    problem_type: ProblemType = None,
    inference_attribute: InferenceAttribute = None,
    probability_attribute: ProbabilityAttribute = None,
    label_attribute: LabelAttribute = None,
    drift_method: Annotated[
        str | None, typer.Option(help="auto, linf_robust, ks, psi, wasserstein, ...")
    ] = None,
    start_offset: Annotated[str | None, typer.Option(help="Window start, e.g. -P1D.")] = None,
    end_offset: Annotated[str | None, typer.Option(help="Window end, e.g. -PT1H.")] = None,
    custom_metric: Annotated[
        list[str] | None, typer.Option(help="module:function or entry point; repeatable.")
    ] = None,
    settings: Annotated[
        str | None, typer.Option(metavar="JSON|@FILE", help="Any other monitor settings.")
    ] = None,
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    output: OutputOption = Format.TABLE,
) -> None:
    """Create a monitor on an endpoint or a transform job; with --schedule it runs on its own.

    A monitor on a transform job run without --start/--end covers the job's run.
    """
    if (endpoint is None) == (transform_job is None):
        raise typer.BadParameter(
            "give --endpoint or --transform-job (exactly one)", param_hint="--endpoint"
        )
    body = _json_option(settings, "--settings")
    model_quality = _model_quality(
        problem_type, inference_attribute, probability_attribute, label_attribute
    )
    for key, value in (
        ("model_quality", model_quality),
        ("drift_method", drift_method),
        ("start_time_offset", start_offset),
        ("end_time_offset", end_offset),
        ("custom_metrics", custom_metric),
    ):
        if value:
            body[key] = value
    with connect() as client:
        created = client.monitoring.create_monitor(
            account,
            name,
            endpoint,
            transform_job=transform_job,
            type=type,
            baseline=baseline,
            settings=body,
            schedule=schedule,
            description=description,
        )
    render_object(created, output)


@app.command("list")
def list_(
    account: Account,
    endpoint: Annotated[str | None, typer.Option(help="Only this endpoint's monitors.")] = None,
    transform_job: Annotated[
        str | None, typer.Option(help="Only this transform job's monitors.")
    ] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """List the account's monitors."""
    with connect() as client:
        render_list(
            client.monitoring.list_monitors(
                account, endpoint=endpoint, transform_job=transform_job
            ),
            MONITOR_COLUMNS,
            output,
        )


@app.command("get")
def get(name: MonitorName, account: Account, output: OutputOption = Format.TABLE) -> None:
    """Show one monitor."""
    with connect() as client:
        render_object(client.monitoring.get_monitor(account, name), output)


@app.command("update")
def update(
    name: MonitorName,
    account: Account,
    schedule: Annotated[str | None, typer.Option(help="A new schedule; 'none' removes it.")] = None,
    baseline: Annotated[str | None, typer.Option(help="Another baseline.")] = None,
    enabled: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Resume or pause the schedule.")
    ] = None,
    settings: Annotated[
        str | None, typer.Option(metavar="JSON|@FILE", help="Replace the settings.")
    ] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Change a monitor's schedule, baseline, settings, or pause it."""
    changes: dict[str, Any] = {}
    if schedule is not None:
        changes["schedule"] = schedule
    if baseline is not None:
        changes["baseline"] = baseline
    if enabled is not None:
        changes["status"] = "Scheduled" if enabled else "Stopped"
    if settings is not None:
        changes["settings"] = _json_option(settings, "--settings")
    if not changes:
        raise typer.BadParameter(
            "nothing to change: give --schedule, --baseline, --enable/--disable or --settings"
        )
    with connect() as client:
        render_object(client.monitoring.update_monitor(account, name, **changes), output)


@app.command("delete")
def delete(name: MonitorName, account: Account) -> None:
    """Delete a monitor and its executions (reports stay in the blob store)."""
    with connect() as client:
        client.monitoring.delete_monitor(account, name)
    print(f"monitor {name} deleted", file=sys.stderr)


@app.command("run")
def run(
    name: MonitorName,
    account: Account,
    start: Time = None,
    end: Time = None,
    inline: Annotated[
        bool, typer.Option(help="Run it in the server now instead of on a worker.")
    ] = False,
    wait: Annotated[bool, typer.Option(help="Wait for the final status.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits.")] = 600.0,
    output: OutputOption = Format.TABLE,
) -> None:
    """Run a monitor now over [--start, --end) (default: the window a run now covers; for a
    monitor on a finished transform job without schedule or offsets, the job's run).

    With --wait the exit code is 0 for Completed, 1 for CompletedWithViolations and 2 otherwise.
    """
    if (start is None) != (end is None):
        raise typer.BadParameter("give both --start and --end, or neither")
    with connect() as client:
        execution = client.monitoring.start_execution(
            account, name, start=start, end=end, run_inline=inline
        )
        if wait or inline:
            execution = client.monitoring.wait(account, name, execution["id"], timeout=timeout)
    render_object(execution, output)
    if wait:
        status = execution["status"]
        raise typer.Exit(0 if status == "Completed" else 1 if "Violations" in status else 2)


@app.command("executions")
def executions(
    name: MonitorName,
    account: Account,
    status: Annotated[str | None, typer.Option(help="Only executions with this status.")] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """List a monitor's executions, newest first."""
    with connect() as client:
        render_list(
            client.monitoring.list_executions(account, name, status=status),
            EXECUTION_COLUMNS,
            output,
        )


@app.command("execution")
def execution(
    name: MonitorName,
    execution_id: ExecutionId,
    account: Account,
    output: OutputOption = Format.TABLE,
) -> None:
    """Show one execution with its summary."""
    with connect() as client:
        render_object(client.monitoring.get_execution(account, name, execution_id), output)


@app.command("stop")
def stop(
    name: MonitorName,
    execution_id: ExecutionId,
    account: Account,
    output: OutputOption = Format.TABLE,
) -> None:
    """Stop a Pending or InProgress execution."""
    with connect() as client:
        render_object(client.monitoring.stop_execution(account, name, execution_id), output)


@app.command("report")
def report(
    name: MonitorName,
    execution_id: ExecutionId,
    file: Annotated[str, typer.Argument(help="constraint_violations.json, statistics.json, ...")],
    account: Account,
    out: Annotated[Path | None, typer.Option("--out", dir_okay=False)] = None,
) -> None:
    """Print (or save) one report file of an execution."""
    with connect() as client:
        document = client.monitoring.download_report(account, name, execution_id, file)
    _write(document, out)
