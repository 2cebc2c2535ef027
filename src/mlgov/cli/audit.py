"""``mlgov audit``: read, query and verify the tamper-evident audit trail."""

from __future__ import annotations

from itertools import islice
from typing import Annotated

import typer

from mlgov.cli._connection import connect
from mlgov.cli._output import (
    Column,
    Format,
    OutputOption,
    QueryFormat,
    cell,
    fail,
    notice,
    print_json,
    render_list,
    render_rows,
    table,
)
from mlgov.cli._params import Since, Until

app = typer.Typer(
    no_args_is_help=True, help="The audit trail: records, SQL, verification, digests."
)

RECORD_COLUMNS = [
    Column("SEQ", "additionalEventData.sequence"),
    Column("TIME", "eventTime"),
    Column("PRINCIPAL", "userIdentity.userName"),
    Column("ACTION", "additionalEventData.action"),
    Column("ACCOUNT", "recipientAccountId"),
    Column("STATUS", "additionalEventData.httpStatus"),
    Column("ERROR", "errorCode"),
]
DIGEST_COLUMNS = [
    Column("ID", "id"),
    Column("PERIOD START", "period_start"),
    Column("PERIOD END", "period_end"),
    Column("RECORDS", "record_count"),
    Column("FIRST SEQ", "first_sequence"),
    Column("LAST SEQ", "last_sequence"),
    Column("KEY", "public_key_fingerprint"),
]


@app.command("records")
def records(
    since: Since = None,
    until: Until = None,
    account: Annotated[str | None, typer.Option(help="Account id or name.")] = None,
    principal: Annotated[str | None, typer.Option(help="Principal id or name.")] = None,
    action: Annotated[
        str | None,
        typer.Option(help="An action (identity:CreateAccount) or an event name (CreateAccount)."),
    ] = None,
    outcome: Annotated[str | None, typer.Option(help="success, denied or failed.")] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many records (oldest first).")
    ] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """List audit records (oldest first) in the accounts you may audit."""
    with connect() as client:
        found = client.audit.records(
            since=since,
            until=until,
            account=account,
            principal=principal,
            action=action,
            outcome=outcome,
            page_size=min(limit, 500) if limit else 500,
        )
        # Pages are fetched lazily, so a --limit stops the paging instead of trimming afterwards.
        chosen = list(islice(found, limit))
    render_list(chosen, RECORD_COLUMNS, output)


@app.command("query")
def query(
    sql: Annotated[str, typer.Argument(help="One SELECT over the table audit_records.")],
    since: Since = None,
    until: Until = None,
    max_rows: Annotated[int, typer.Option(min=1, max=100_000, help="Row cap.")] = 1000,
    output: Annotated[
        QueryFormat,
        typer.Option(
            "--output",
            "-o",
            case_sensitive=False,
            help="table, json (an array of objects) or csv (with a header row).",
        ),
    ] = QueryFormat.TABLE,
) -> None:
    """Run SQL (DuckDB dialect) over the audit records you may see."""
    with connect() as client:
        result = client.audit.query(sql, since=since, until=until, max_rows=max_rows)
    render_rows(result["columns"], result["rows"], output)
    if result.get("truncated"):
        notice(f"only the first {max_rows} rows are shown; raise --max-rows or narrow the query")


@app.command("verify")
def verify(since: Since = None, until: Until = None, output: OutputOption = Format.TABLE) -> None:
    """Check the hash chain and the signed digests; exit 1 on any edit, deletion or reordering."""
    with connect() as client:
        report = client.audit.verify(since=since, until=until)
    if output is Format.JSON:
        print_json(report)
    else:
        print("the audit trail is valid" if report["valid"] else "the audit trail is NOT valid")
        fields = (
            "valid",
            "records_checked",
            "digests_checked",
            "first_sequence",
            "last_sequence",
            "unsealed_records",
        )
        table(["FIELD", "VALUE"], ([f, cell(report.get(f))] for f in fields))
        first = report.get("first_problem")
        if first:
            where = (
                f"record {first['sequence']}"
                if first.get("sequence") is not None
                else f"digest {first.get('digest_id')}"
            )
            print(f"first problem: {first['kind']} at {where}: {first['message']}")
            if len(report.get("problems", [])) > 1:
                print(f"{len(report['problems'])} problems in all; -o json lists them")
    if not report["valid"]:
        first = report.get("first_problem") or {}
        fail("AUDIT_TRAIL_INVALID", first.get("message", "the audit trail failed verification"))


@app.command("seal")
def seal(output: OutputOption = Format.TABLE) -> None:
    """Seal every closed period now with a signed digest (the server also does this on a timer)."""
    with connect() as client:
        sealed = client.audit.seal()
    if not sealed and output is Format.TABLE:
        notice("nothing to seal: every closed period already has a digest")
        return
    render_list(sealed, DIGEST_COLUMNS, output)


@app.command("digests")
def digests(output: OutputOption = Format.TABLE) -> None:
    """List the signed digests, oldest first."""
    with connect() as client:
        render_list(client.audit.digests(), DIGEST_COLUMNS, output)


@app.command("public-key")
def public_key(output: OutputOption = Format.TABLE) -> None:
    """Print the digest-signing public key (PEM), to verify digests independently."""
    with connect() as client:
        key = client.audit.public_key()
    if output is Format.JSON:
        print_json(key)
        return
    # The bare PEM on stdout, so `mlgov audit public-key > audit.pem` gives a usable file.
    print(key["pem"].rstrip("\n"))
    notice(f"{key.get('algorithm', 'Ed25519')} key, fingerprint {key['fingerprint']}")
