"""``mlgov endpoints``: deploy registry versions, invoke them, send ground truth."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mlgov.cli._connection import connect
from mlgov.cli._output import Column, Format, OutputOption, render_list, render_object
from mlgov.cli._params import Account, GroundTruthFile, GroundTruthLabels, ground_truth_payload

app = typer.Typer(no_args_is_help=True, help="Endpoints: serve registry versions, capture traffic.")

Name = Annotated[str, typer.Argument(metavar="ENDPOINT", help="Endpoint name.")]
Variants = Annotated[
    list[str] | None,
    typer.Option(
        "--variant",
        metavar="GROUP:VERSION[:WEIGHT[:NAME]]",
        help="A model version to serve; repeat for A/B variants split by weight.",
    ),
]
COLUMNS = [
    Column("NAME", "name"),
    Column(
        "VARIANTS",
        lambda e: ", ".join(
            f"{v['name']}={v['group']}:{v['version']}@{v['weight']:g}" for v in e["variants"]
        ),
    ),
    Column("CAPTURE", lambda e: "on" if e["capture"]["enabled"] else "off"),
    Column("REVISION", "revision"),
    Column("UPDATED", "updated_at"),
]


def parse_variants(specs: list[str] | None) -> list[dict[str, Any]]:
    variants = []
    for spec in specs or []:
        parts = spec.split(":")
        try:
            if not 2 <= len(parts) <= 4:
                raise ValueError
            variant: dict[str, Any] = {"group": parts[0], "version": int(parts[1])}
            if len(parts) > 2 and parts[2]:
                variant["weight"] = float(parts[2])
            if len(parts) > 3:
                variant["name"] = parts[3]
        except ValueError:
            raise typer.BadParameter(
                f"{spec!r} is not GROUP:VERSION[:WEIGHT[:NAME]]", param_hint="--variant"
            ) from None
        variants.append(variant)
    return variants


def capture_config(
    capture: bool | None, sampling: float | None, inputs: bool | None, outputs: bool | None
) -> dict[str, Any] | None:
    if capture is None and sampling is None and inputs is None and outputs is None:
        return None
    config: dict[str, Any] = {"enabled": capture if capture is not None else True}
    if sampling is not None:
        config["sampling_percentage"] = sampling
    if inputs is not None:
        config["capture_input"] = inputs
    if outputs is not None:
        config["capture_output"] = outputs
    return config


Capture = Annotated[
    bool | None, typer.Option("--capture/--no-capture", help="Record invocations for monitoring.")
]
Sampling = Annotated[
    float | None, typer.Option(min=0, max=100, help="Percent of invocations captured.")
]
CaptureInput = Annotated[bool | None, typer.Option("--capture-input/--no-capture-input")]
CaptureOutput = Annotated[bool | None, typer.Option("--capture-output/--no-capture-output")]


@app.command("create")
def create(
    name: Name,
    account: Account,
    variant: Variants = None,
    capture: Capture = None,
    sampling: Sampling = None,
    capture_input: CaptureInput = None,
    capture_output: CaptureOutput = None,
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    output: OutputOption = Format.TABLE,
) -> None:
    """Deploy model versions as an endpoint (prod accounts take only Approved versions)."""
    variants = parse_variants(variant)
    if not variants:
        raise typer.BadParameter("give at least one --variant GROUP:VERSION")
    with connect() as client:
        created = client.serving.create_endpoint(
            account,
            name,
            variants,
            capture=capture_config(capture, sampling, capture_input, capture_output),
            description=description,
        )
    render_object(created, output)


@app.command("list")
def list_(account: Account, output: OutputOption = Format.TABLE) -> None:
    """List the account's endpoints."""
    with connect() as client:
        render_list(client.serving.list_endpoints(account), COLUMNS, output)


@app.command("get")
def get(name: Name, account: Account, output: OutputOption = Format.TABLE) -> None:
    """Show one endpoint with its variants and capture settings."""
    with connect() as client:
        render_object(client.serving.get_endpoint(account, name), output)


@app.command("update")
def update(
    name: Name,
    account: Account,
    variant: Variants = None,
    capture: Capture = None,
    sampling: Sampling = None,
    capture_input: CaptureInput = None,
    capture_output: CaptureOutput = None,
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Switch versions blue/green (the new models load before traffic moves) or capture."""
    variants = parse_variants(variant) or None
    config = capture_config(capture, sampling, capture_input, capture_output)
    if variants is None and config is None and description is None:
        raise typer.BadParameter(
            "nothing to change: give --variant, capture options or --description"
        )
    with connect() as client:
        if config is not None:
            # Options left out keep their current values.
            config = {**client.serving.get_endpoint(account, name)["capture"], **config}
        updated = client.serving.update_endpoint(
            account, name, variants=variants, capture=config, description=description
        )
    render_object(updated, output)


@app.command("delete")
def delete(name: Name, account: Account) -> None:
    """Remove an endpoint (its captured data stays in the blob store)."""
    with connect() as client:
        client.serving.delete_endpoint(account, name)
    print(f"endpoint {name} deleted", file=sys.stderr)


@app.command("invoke")
def invoke(
    name: Name,
    account: Account,
    data: Annotated[
        str, typer.Option(metavar="TEXT|@FILE", help="Rows: CSV lines or JSON, inline or a file.")
    ],
    content_type: Annotated[
        str | None, typer.Option(help="text/csv or application/json (default: guessed).")
    ] = None,
    accept: Annotated[
        str | None, typer.Option(help="Answer type (default: the request's).")
    ] = None,
    inference_id: Annotated[
        str | None, typer.Option(help="Your id for this call; ground truth joins on it.")
    ] = None,
    variant: Annotated[str | None, typer.Option(help="Send to this variant only.")] = None,
) -> None:
    """Score rows; prints the predictions (stdout) and the variant and event id (stderr)."""
    body = Path(data[1:]).read_text(encoding="utf-8") if data.startswith("@") else data
    if content_type is None:
        content_type = "application/json" if body.lstrip()[:1] in ("[", "{") else "text/csv"
    with connect() as client:
        answer = client.serving.invoke(
            account,
            name,
            body=body,
            content_type=content_type,
            accept=accept or content_type,
            inference_id=inference_id,
            target_variant=variant,
        )
    predictions = answer["predictions"]
    if isinstance(predictions, str):
        sys.stdout.write(predictions)
    else:
        print(json.dumps(predictions))
    print(
        f"variant {answer['variant']}, event {answer['event_id']}, "
        f"captured {'yes' if answer['captured'] else 'no'}",
        file=sys.stderr,
    )


@app.command("ground-truth")
def ground_truth(
    name: Name,
    account: Account,
    label: GroundTruthLabels = None,
    file: GroundTruthFile = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Send the true labels of earlier invocations, joined on their inference ids."""
    payload = ground_truth_payload(label, file)
    with connect() as client:
        stored = client.serving.put_ground_truth(account, name, payload)
    render_object(stored, output)


@app.command("serve")
def serve(
    name: Name,
    account: Account,
    host: Annotated[str | None, typer.Option(help="Address; default MLGOV_SERVER__HOST.")] = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve one endpoint in this process (uses the database and blob store directly).

    Its models load before it listens; `POST /invocations` and `GET /ping` answer for it, next to
    the full API. Run several behind a load balancer to scale an endpoint out.
    """
    import uvicorn

    from mlgov.cli._admin import database_errors, load_settings
    from mlgov.server.app import create_app, freeze_startup_heap

    settings = load_settings()
    with database_errors(settings):
        application = create_app(settings, serve_endpoint=(account, name))
    freeze_startup_heap()
    uvicorn.run(
        application, host=host or settings.server.host, port=port, log_level=log_level.lower()
    )
