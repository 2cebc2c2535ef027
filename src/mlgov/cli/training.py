"""``mlgov training-jobs``: run training entrypoints on the server, read their logs and reports."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mlgov.cli._connection import connect
from mlgov.cli._output import Column, Format, OutputOption, print_json, render_list, render_object
from mlgov.cli._params import Account, parse_labels
from mlgov.sdk._client import Client

app = typer.Typer(
    no_args_is_help=True,
    help="Training jobs: an entrypoint run by the server's job runner; its model is registered.",
)

Name = Annotated[str, typer.Argument(metavar="JOB", help="Training job name.")]
COLUMNS = [
    Column("NAME", "name"),
    Column("STATUS", "status"),
    Column("GROUP", "model_group"),
    Column("VERSION", "model_version"),
    Column(
        "COMPARISON", lambda j: j["comparison_summary"].get("verdict") or j["comparison_status"]
    ),
    Column("CREATED", "created_at"),
]


def _data(client: Client, account: str, value: str | None) -> Any:
    """``@FILE`` uploads a local file to the account; anything else is a server path or URI."""
    if value is None:
        return None
    if not value.startswith("@"):
        return {"uri": value}
    path = Path(value[1:])
    if not path.is_file():
        raise typer.BadParameter(f"{path} is not a file")
    sha256 = client.registry.upload_artifact(account, path)["sha256"]
    return {"artifact_sha256": sha256, "filename": path.name}


def _parameters(pairs: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; values are JSON when they parse as JSON, else strings."""
    out: dict[str, Any] = {}
    for key, raw in parse_labels(pairs, "--param").items():
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


@app.command("create")
def create(
    name: Name,
    account: Account,
    group: Annotated[str, typer.Option("--group", help="Model group the new version joins.")],
    training_data: Annotated[
        str, typer.Option(metavar="PATH|URI|@FILE", help="@FILE uploads a local file first.")
    ],
    command: Annotated[
        str | None, typer.Option(help="Command line to run, e.g. 'python train.py'.")
    ] = None,
    function: Annotated[
        str | None,
        typer.Option(metavar="MODULE:FUNCTION", help="Called as fn(train, eval, dir, params)."),
    ] = None,
    evaluation_data: Annotated[
        str | None, typer.Option(metavar="PATH|URI|@FILE", help="For the champion comparison.")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", metavar="KEY=VALUE", help="A hyperparameter.")
    ] = None,
    python_path: Annotated[
        list[str] | None, typer.Option("--python-path", help="A directory put on PYTHONPATH.")
    ] = None,
    flavor: Annotated[str, typer.Option(help="Flavor of the model file.")] = "sklearn",
    label: Annotated[str | None, typer.Option(help="Label column of the evaluation data.")] = None,
    timeout: Annotated[
        int | None, typer.Option(min=1, help="Seconds before the job is killed.")
    ] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Queue a training job (give --command or --function)."""
    if (command is None) == (function is None):
        raise typer.BadParameter("give exactly one of --command or --function")
    with connect() as client:
        created = client.training.create_job(
            account,
            name,
            model_group=group,
            training_data=_data(client, account, training_data),
            evaluation_data=_data(client, account, evaluation_data),
            command=shlex.split(command) if command else None,
            function=function,
            hyperparameters=_parameters(param),
            python_path=python_path or [],
            flavor=flavor,
            label=label,
            timeout_seconds=timeout,
        )
    render_object(created, output)


@app.command("list")
def list_(
    account: Account,
    status: Annotated[str | None, typer.Option(help="Only jobs in this status.")] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """List the account's training jobs."""
    with connect() as client:
        render_list(client.training.list_jobs(account, status=status), COLUMNS, output)


@app.command("get")
def get(name: Name, account: Account, output: OutputOption = Format.TABLE) -> None:
    """Show one job: status, failure reason, metrics, the version it registered."""
    with connect() as client:
        render_object(client.training.get_job(account, name), output)


@app.command("stop")
def stop(name: Name, account: Account, output: OutputOption = Format.TABLE) -> None:
    """Stop a pending or running job."""
    with connect() as client:
        render_object(client.training.stop_job(account, name), output)


@app.command("logs")
def logs(
    name: Name,
    account: Account,
    stderr: Annotated[bool, typer.Option("--stderr", help="Standard error instead.")] = False,
) -> None:
    """Print the job's stdout (or stderr) once it has finished."""
    with connect() as client:
        text = client.training.logs(account, name, stream="stderr" if stderr else "stdout")
    sys.stdout.write(text)


@app.command("comparison")
def comparison(name: Name, account: Account) -> None:
    """Print the comparison report of the job's model against the champion (JSON)."""
    with connect() as client:
        print_json(client.training.comparison(account, name))


@app.command("wait")
def wait(
    name: Name,
    account: Account,
    timeout: Annotated[float, typer.Option(help="Seconds to wait.")] = 3600.0,
    output: OutputOption = Format.TABLE,
) -> None:
    """Wait until the job has finished; exits non-zero unless it Completed."""
    with connect() as client:
        job = client.training.wait(account, name, timeout=timeout)
    render_object(job, output)
    if job["status"] != "Completed":
        raise typer.Exit(1)
