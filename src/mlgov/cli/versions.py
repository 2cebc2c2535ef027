"""``mlgov versions``: register, find, decide on, promote and download model versions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlgov.cli._connection import connect
from mlgov.cli._output import Column, Format, OutputOption, notice, render_list, render_object
from mlgov.cli._params import Account, Since, Until, parse_labels
from mlgov.cli._registry import Group, Version, parse_numbers, parse_values, read_json

app = typer.Typer(no_args_is_help=True, help="Model versions: artifacts, lineage, approvals.")

COLUMNS = [
    Column("GROUP", "group"),
    Column("VERSION", "version"),
    Column("STATUS", "approval_status"),
    Column("FLAVOR", "flavor"),
    Column("ALIASES", "aliases"),
    Column("SHA256", lambda v: v["artifact"]["sha256"][:12]),
    Column("CREATED", "created_at"),
]
APPROVAL_COLUMNS = [
    Column("TIME", "decided_at"),
    Column("FROM", "previous_status"),
    Column("TO", "status"),
    Column("REVIEWER", "reviewer_name"),
    Column("COMMENT", "comment"),
]
FLAVORS = "sklearn, xgboost, lightgbm, onnx or python"


def _dataset(text: str) -> dict[str, str]:
    uri, _, sha256 = text.partition("#sha256=")
    return {"uri": uri, "sha256": sha256} if sha256 else {"uri": uri}


@app.command("create")
def create(
    group: Group,
    account: Account,
    flavor: Annotated[str, typer.Option(help=f"One of {FLAVORS}.")],
    artifact: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Model file to upload (streamed)."),
    ] = None,
    artifact_sha256: Annotated[
        str | None, typer.Option(help="An artifact already in the account, by hash.")
    ] = None,
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", metavar="NAME=NUMBER", help="A metric; repeat for more."),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", metavar="KEY=VALUE", help="A training parameter; repeat."),
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", metavar="KEY=VALUE", help="A tag; repeat.")
    ] = None,
    dataset: Annotated[
        list[str] | None,
        typer.Option(
            metavar="URI[#sha256=HEX]", help="A training dataset (lineage); repeat for more."
        ),
    ] = None,
    code_repository: Annotated[str | None, typer.Option(help="Code repository URL.")] = None,
    code_commit: Annotated[
        str | None, typer.Option(help="Commit the model was built from.")
    ] = None,
    training_job: Annotated[str | None, typer.Option(help="Job that trained it.")] = None,
    pipeline_execution: Annotated[str | None, typer.Option(help="Pipeline run.")] = None,
    parent_version: Annotated[
        int | None, typer.Option(min=1, help="Version of this group it derives from.")
    ] = None,
    signature: Annotated[
        str | None,
        typer.Option(metavar="JSON|@FILE", help='{"inputs": [...], "outputs": [...]}'),
    ] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Register a new version (PendingManualApproval) from a file or a known artifact hash."""
    if (artifact is None) == (artifact_sha256 is None):
        raise typer.BadParameter("give exactly one of --artifact or --artifact-sha256")
    if (code_repository is None) != (code_commit is None):
        raise typer.BadParameter("--code-repository and --code-commit go together")
    lineage: dict[str, Any] = {"datasets": [_dataset(d) for d in dataset or []]}
    if code_repository and code_commit:
        lineage["code"] = {"repository": code_repository, "commit": code_commit}
    if training_job:
        lineage["training_job"] = training_job
    if pipeline_execution:
        lineage["pipeline_execution"] = pipeline_execution
    fields: dict[str, Any] = {
        "description": description,
        "metrics": parse_numbers(metric, "--metric"),
        "parameters": parse_values(param, "--param"),
        "tags": parse_labels(tag, "--tag"),
        "lineage": lineage,
        "parent_version": parent_version,
    }
    if signature is not None:
        fields["signature"] = read_json(signature, "--signature")
    with connect() as client:
        created = client.registry.create_version(
            account,
            group,
            flavor=flavor,
            artifact=artifact,
            artifact_sha256=artifact_sha256,
            **fields,
        )
    render_object(created, output)


@app.command("list")
def list_(
    account: Account,
    group: Annotated[str | None, typer.Option(help="Only this model group.")] = None,
    status: Annotated[
        str | None,
        typer.Option(help="PendingManualApproval, Approved or Rejected."),
    ] = None,
    tag: Annotated[str | None, typer.Option(metavar="KEY[=VALUE]", help="Having this tag.")] = None,
    alias: Annotated[str | None, typer.Option(help="Pointed at by this alias.")] = None,
    since: Since = None,
    until: Until = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Search the account's versions, oldest first."""
    with connect() as client:
        found = client.registry.search_versions(
            account,
            group=group,
            approval_status=status,
            tag=tag,
            alias=alias,
            created_after=since,
            created_before=until,
        )
        render_list(found, COLUMNS, output)


@app.command("get")
def get(
    group: Group, version: Version, account: Account, output: OutputOption = Format.TABLE
) -> None:
    """Show one version with its lineage, artifact and approval status."""
    with connect() as client:
        render_object(client.registry.get_version(account, group, version), output)


@app.command("update")
def update(
    group: Group,
    version: Version,
    account: Account,
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", metavar="KEY=VALUE", help="Replace the tags; repeat for more."),
    ] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Change a version's description or tags (everything else is immutable)."""
    changes: dict[str, Any] = {}
    if description is not None:
        changes["description"] = description
    if tag is not None:
        changes["tags"] = parse_labels(tag, "--tag")
    if not changes:
        raise typer.BadParameter("nothing to change: give --description or --tag")
    with connect() as client:
        render_object(client.registry.update_version(account, group, version, **changes), output)


Comment = Annotated[str, typer.Option(help="Why: kept in the approval history.")]
IfStatus = Annotated[
    str | None,
    typer.Option(help="Decide only if the version still has this status (else 409)."),
]


@app.command("approve")
def approve(
    group: Group,
    version: Version,
    account: Account,
    comment: Comment = "",
    if_status: IfStatus = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Approve a version (needs the approve action; by default not your own version)."""
    with connect() as client:
        render_object(client.registry.approve(account, group, version, comment, if_status), output)


@app.command("reject")
def reject(
    group: Group,
    version: Version,
    account: Account,
    comment: Comment = "",
    if_status: IfStatus = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Reject a version."""
    with connect() as client:
        render_object(client.registry.reject(account, group, version, comment, if_status), output)


@app.command("approvals")
def approvals(
    group: Group, version: Version, account: Account, output: OutputOption = Format.TABLE
) -> None:
    """The version's immutable approval history."""
    with connect() as client:
        render_list(client.registry.approvals(account, group, version), APPROVAL_COLUMNS, output)


@app.command("promote")
def promote(
    group: Group,
    version: Version,
    account: Account,
    to: Annotated[str, typer.Option("--to", help="Target account id or name.")],
    target_group: Annotated[
        str | None, typer.Option(help="Group in the target account (default: same name).")
    ] = None,
    comment: Comment = "",
    output: OutputOption = Format.TABLE,
) -> None:
    """Copy an Approved version into another account, reusing its artifact by hash."""
    with connect() as client:
        promoted = client.registry.promote(account, group, version, to, target_group, comment)
    render_object(promoted, output)


@app.command("download")
def download(
    group: Group,
    version: Version,
    account: Account,
    to: Annotated[Path, typer.Option("--to", dir_okay=False, help="File to write.")],
) -> None:
    """Stream the artifact to a file, checking its SHA-256 (a mismatch leaves no file)."""
    with connect() as client:
        got = client.registry.download_artifact(account, group, version, to)
    notice(f"wrote {got['size']} bytes to {got['path']} (sha256 {got['sha256']} verified)")


@app.command("upload")
def upload(
    account: Account,
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="File to upload.")],
    output: OutputOption = Format.TABLE,
) -> None:
    """Upload an artifact alone (versions can then name it with --artifact-sha256)."""
    with connect() as client:
        render_object(client.registry.upload_artifact(account, path), output)
