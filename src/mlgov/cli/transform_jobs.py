"""``mlgov transform-jobs``: score a dataset with a registry version, offline; label its rows."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlgov.cli._connection import connect
from mlgov.cli._output import Column, Format, OutputOption, notice, render_list, render_object
from mlgov.cli._params import Account, GroundTruthFile, GroundTruthLabels, ground_truth_payload

app = typer.Typer(no_args_is_help=True, help="Batch transform: score datasets, capture the rows.")

Name = Annotated[str, typer.Argument(metavar="JOB", help="Transform job name.")]
COLUMNS = [
    Column("NAME", "name"),
    Column("MODEL", lambda j: f"{j['model']['group']}:{j['model']['version']}"),
    Column("STATUS", "status"),
    Column("RECORDS", "records"),
    Column("CREATED", "created_at"),
]


@app.command("create")
def create(
    name: Name,
    account: Account,
    model: Annotated[str, typer.Option(metavar="GROUP:VERSION", help="The version that scores.")],
    data: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="Dataset file (uploaded first).")
    ],
    format: Annotated[str, typer.Option(help="csv, parquet or jsonl.")] = "csv",
    header: Annotated[bool, typer.Option("--header/--no-header", help="CSV header row.")] = True,
    capture: Annotated[bool, typer.Option(help="Capture every row for monitoring.")] = False,
    wait: Annotated[bool, typer.Option(help="Wait until the job ends.")] = False,
    output: OutputOption = Format.TABLE,
) -> None:
    """Queue a job; the server's workers run it."""
    group, _, version = model.partition(":")
    if not group or not version.isdigit():
        raise typer.BadParameter(f"{model!r} is not GROUP:VERSION", param_hint="--model")
    with connect() as client:
        job = client.serving.create_transform_job(
            account, name, group, int(version),
            data=data, format=format, csv_header=header, capture=capture,
        )  # fmt: skip
        if wait:
            job = client.serving.wait_transform_job(account, name)
    render_object(job, output)
    if job["status"] == "Failed":
        raise typer.Exit(1)


@app.command("list")
def list_(account: Account, output: OutputOption = Format.TABLE) -> None:
    """List the account's transform jobs."""
    with connect() as client:
        render_list(client.serving.list_transform_jobs(account), COLUMNS, output)


@app.command("get")
def get(name: Name, account: Account, output: OutputOption = Format.TABLE) -> None:
    """Show one job: status, records, failure reason, output hash."""
    with connect() as client:
        render_object(client.serving.get_transform_job(account, name), output)


@app.command("download")
def download(
    name: Name,
    account: Account,
    to: Annotated[Path, typer.Option("--to", dir_okay=False, help="Parquet file to write.")],
) -> None:
    """Stream the job's output (Parquet), checking its SHA-256."""
    with connect() as client:
        got = client.serving.download_transform_output(account, name, to)
    notice(f"wrote {got['size']} bytes to {got['path']} (sha256 verified)")


@app.command("ground-truth")
def ground_truth(
    name: Name,
    account: Account,
    label: GroundTruthLabels = None,
    file: GroundTruthFile = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Send the true labels of a captured job's rows, joined on their inference ids (JOB-ROW)."""
    payload = ground_truth_payload(label, file)
    with connect() as client:
        stored = client.serving.put_transform_job_ground_truth(account, name, payload)
    render_object(stored, output)
