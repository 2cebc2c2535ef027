"""``mlgov events``: put events, route them with rules to targets, dead letters, replays."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from mlgov.cli._connection import connect
from mlgov.cli._output import (
    Column,
    Format,
    OutputOption,
    notice,
    render_list,
    render_object,
    usage_error,
)
from mlgov.cli._params import Account

app = typer.Typer(no_args_is_help=True, help="The event bus: events, rules, targets, replays.")
rules_app = typer.Typer(no_args_is_help=True, help="Rules: a pattern routing events to targets.")
targets_app = typer.Typer(no_args_is_help=True, help="Targets of a rule (at most 5).")
dlq_app = typer.Typer(no_args_is_help=True, help="Deliveries that ran out of retries.")
archives_app = typer.Typer(no_args_is_help=True, help="Archives of a bus's events.")
replay_app = typer.Typer(no_args_is_help=True, help="Replays of archived events.")
buses_app = typer.Typer(no_args_is_help=True, help="Event buses and who may send to them.")
app.add_typer(rules_app, name="rules")
app.add_typer(targets_app, name="targets")
app.add_typer(dlq_app, name="dlq")
app.add_typer(archives_app, name="archives")
app.add_typer(replay_app, name="replay")
app.add_typer(buses_app, name="buses")

Bus = Annotated[str, typer.Option("--bus", help="Event bus name.")]
RuleName = Annotated[str, typer.Argument(metavar="RULE", help="Rule name.")]
RULE_COLUMNS = [
    Column("NAME", "name"),
    Column("STATE", "state"),
    Column("BUS", "event_bus"),
    Column("PATTERN", lambda r: json.dumps(r["event_pattern"])),
    Column("DESCRIPTION", "description"),
]
TARGET_COLUMNS = [
    Column("ID", "id"),
    Column("TYPE", "type"),
    Column("CONFIG", "config"),
    Column("MAX RETRIES", "retry_policy.maximum_retry_attempts"),
]
DLQ_COLUMNS = [
    Column("ID", "id"),
    Column("EVENT", "event_id"),
    Column("RULE", "rule"),
    Column("TARGET", "target"),
    Column("ERROR", "error_code"),
    Column("EXHAUSTED", "exhausted_retry_condition"),
    Column("FAILED AT", "failed_at"),
]
ARCHIVE_COLUMNS = [
    Column("NAME", "name"),
    Column("BUS", "event_bus"),
    Column("EVENTS", "event_count"),
    Column("RETENTION DAYS", "retention_days"),
    Column("PATTERN", lambda a: json.dumps(a["event_pattern"]) if a["event_pattern"] else ""),
]


def _json_arg(text: str, what: str) -> Any:
    """JSON given inline, or ``@file.json``."""
    try:
        if text.startswith("@"):
            return json.loads(Path(text[1:]).read_text())
        return json.loads(text)
    except (OSError, ValueError) as exc:
        usage_error(f"{what} is not valid JSON ({exc}); give JSON or @file.json")


@app.command("put")
def put(
    account: Account,
    source: Annotated[str, typer.Option(help="e.g. com.example.app; never mlgov.*")],
    detail_type: Annotated[str, typer.Option(help="e.g. 'Order Placed'.")],
    detail: Annotated[str, typer.Option(help="JSON object, or @file.json.")] = "{}",
    resource: Annotated[
        list[str] | None, typer.Option(help="A resource the event concerns; repeat for more.")
    ] = None,
    bus: Annotated[str | None, typer.Option(help="Bus name; the default bus if absent.")] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Put one event on a bus; prints its id."""
    entry: dict[str, Any] = {
        "source": source,
        "detail_type": detail_type,
        "detail": _json_arg(detail, "--detail"),
        "resources": resource or [],
    }
    if bus:
        entry["event_bus"] = bus
    with connect() as client:
        result = client.events.put_events(account, [entry])
    (answer,) = result["entries"]
    if answer.get("error_code"):
        render_object(answer, output)
        raise typer.Exit(1)
    render_object(answer, output)


@app.command("test-pattern")
def check_pattern(
    account: Account,
    pattern: Annotated[str, typer.Option(help="Event pattern JSON, or @file.json.")],
    event: Annotated[str, typer.Option(help="Event JSON, or @file.json.")],
    output: OutputOption = Format.TABLE,
) -> None:
    """Check whether an event matches a pattern (exit 1 when it does not)."""
    with connect() as client:
        matched = client.events.test_pattern(
            account, _json_arg(pattern, "--pattern"), _json_arg(event, "--event")
        )
    render_object({"result": matched}, output)
    if not matched:
        raise typer.Exit(1)


# --- rules ---


@rules_app.command("put")
def rules_put(
    name: RuleName,
    account: Account,
    pattern: Annotated[str, typer.Option(help="Event pattern JSON, or @file.json.")],
    bus: Bus = "default",
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it disabled.")] = False,
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    output: OutputOption = Format.TABLE,
) -> None:
    """Create a rule or replace its pattern, state and description."""
    with connect() as client:
        rule = client.events.put_rule(
            account,
            name,
            _json_arg(pattern, "--pattern"),
            bus=bus,
            enabled=not disabled,
            description=description,
        )
    render_object(rule, output)


@rules_app.command("list")
def rules_list(account: Account, bus: Bus = "default", output: OutputOption = Format.TABLE) -> None:
    """List a bus's rules."""
    with connect() as client:
        render_list(client.events.list_rules(account, bus=bus), RULE_COLUMNS, output)


@rules_app.command("describe")
def rules_describe(
    name: RuleName, account: Account, bus: Bus = "default", output: OutputOption = Format.TABLE
) -> None:
    """Show one rule."""
    with connect() as client:
        render_object(client.events.get_rule(account, name, bus=bus), output)


@rules_app.command("delete")
def rules_delete(name: RuleName, account: Account, bus: Bus = "default") -> None:
    """Delete a rule and its targets."""
    with connect() as client:
        client.events.delete_rule(account, name, bus=bus)
    notice(f"deleted rule {name}")


@rules_app.command("enable")
def rules_enable(
    name: RuleName, account: Account, bus: Bus = "default", output: OutputOption = Format.TABLE
) -> None:
    """Enable a rule."""
    with connect() as client:
        render_object(client.events.enable_rule(account, name, bus=bus), output)


@rules_app.command("disable")
def rules_disable(
    name: RuleName, account: Account, bus: Bus = "default", output: OutputOption = Format.TABLE
) -> None:
    """Disable a rule: matching events are no longer delivered."""
    with connect() as client:
        render_object(client.events.disable_rule(account, name, bus=bus), output)


# --- targets ---


@targets_app.command("put")
def targets_put(
    rule: RuleName,
    account: Account,
    target: Annotated[
        str,
        typer.Option(
            help='One target as JSON (or @file.json), e.g. {"id": "ops", "type": "webhook", '
            '"config": {"url": "https://..."}}; a JSON array for several.'
        ),
    ],
    bus: Bus = "default",
    output: OutputOption = Format.TABLE,
) -> None:
    """Add or replace targets. A generated webhook secret is printed once, on stderr."""
    given = _json_arg(target, "--target")
    targets = given if isinstance(given, list) else [given]
    with connect() as client:
        written = client.events.put_targets(account, rule, targets, bus=bus)
    for item in written:
        if item.get("secret"):
            notice(
                f"signing secret of target {item['id']} (shown this only time): {item['secret']}"
            )
    render_list(
        [{k: v for k, v in item.items() if k != "secret"} for item in written],
        TARGET_COLUMNS,
        output,
    )


@targets_app.command("list")
def targets_list(
    rule: RuleName, account: Account, bus: Bus = "default", output: OutputOption = Format.TABLE
) -> None:
    """List a rule's targets."""
    with connect() as client:
        render_list(client.events.list_targets(account, rule, bus=bus), TARGET_COLUMNS, output)


@targets_app.command("remove")
def targets_remove(
    rule: RuleName,
    target_id: Annotated[str, typer.Argument(metavar="TARGET", help="Target id.")],
    account: Account,
    bus: Bus = "default",
) -> None:
    """Remove one target from a rule."""
    with connect() as client:
        client.events.remove_target(account, rule, target_id, bus=bus)
    notice(f"removed target {target_id} from rule {rule}")


# --- dead letters ---


@dlq_app.command("list")
def dlq_list(
    account: Account,
    rule: Annotated[str | None, typer.Option(help="Only this rule's.")] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """List dead letters: deliveries that failed for good."""
    with connect() as client:
        render_list(client.events.dead_letters(account, rule=rule), DLQ_COLUMNS, output)


@dlq_app.command("redrive")
def dlq_redrive(
    account: Account,
    id: Annotated[
        list[str] | None, typer.Option("--id", help="A dead letter id; repeat for more.")
    ] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule's.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every dead letter of the account.")] = False,
    output: OutputOption = Format.TABLE,
) -> None:
    """Deliver dead letters again, with a fresh retry budget."""
    if not id and not rule and not all_:
        usage_error("say which: --id, --rule or --all")
    with connect() as client:
        count = client.events.redrive(account, ids=id or None, rule=rule)
    render_object({"redriven": count}, output)


# --- archives and replays ---


@archives_app.command("create")
def archives_create(
    name: Annotated[str, typer.Argument(help="Archive name.")],
    account: Account,
    bus: Bus = "default",
    pattern: Annotated[
        str | None, typer.Option(help="Only events matching this pattern (JSON or @file).")
    ] = None,
    retention_days: Annotated[
        int | None, typer.Option(min=1, help="Keep events this long; forever if absent.")
    ] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Archive a bus's events from now on."""
    with connect() as client:
        archive = client.events.create_archive(
            account,
            name,
            bus=bus,
            pattern=_json_arg(pattern, "--pattern") if pattern else None,
            retention_days=retention_days,
        )
    render_object(archive, output)


@archives_app.command("list")
def archives_list(account: Account, output: OutputOption = Format.TABLE) -> None:
    """List the account's archives."""
    with connect() as client:
        render_list(client.events.list_archives(account), ARCHIVE_COLUMNS, output)


@replay_app.command("start")
def replay_start(
    name: Annotated[str, typer.Argument(help="Replay name.")],
    account: Account,
    archive: Annotated[str, typer.Option(help="Archive to replay from.")],
    start: Annotated[datetime, typer.Option(help="Event time from (ISO-8601, UTC if naive).")],
    end: Annotated[datetime, typer.Option(help="Event time until, exclusive.")],
    rule: Annotated[
        list[str] | None, typer.Option(help="Only to this rule; repeat for more.")
    ] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Replay archived events of a time range to the bus's rules."""
    from datetime import UTC

    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    with connect() as client:
        render_object(
            client.events.start_replay(account, name, archive, start, end, rules=rule), output
        )


@replay_app.command("describe")
def replay_describe(
    name: Annotated[str, typer.Argument(help="Replay name.")],
    account: Account,
    output: OutputOption = Format.TABLE,
) -> None:
    """Show a replay's state and progress."""
    with connect() as client:
        render_object(client.events.get_replay(account, name), output)


# --- buses ---


@buses_app.command("create")
def buses_create(
    name: Annotated[str, typer.Argument(help="Bus name.")],
    account: Account,
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    output: OutputOption = Format.TABLE,
) -> None:
    """Create a custom bus (every account has a `default` bus)."""
    with connect() as client:
        render_object(client.events.create_bus(account, name, description=description), output)


@buses_app.command("list")
def buses_list(account: Account, output: OutputOption = Format.TABLE) -> None:
    """List the account's buses."""
    with connect() as client:
        render_list(
            client.events.list_buses(account),
            [Column("NAME", "name"), Column("ID", "id"), Column("DESCRIPTION", "description")],
            output,
        )


@buses_app.command("permit")
def buses_permit(
    grantee: Annotated[str, typer.Argument(help="Account allowed to send to the bus.")],
    account: Account,
    bus: Bus = "default",
    output: OutputOption = Format.TABLE,
) -> None:
    """Let rules of another account target this bus."""
    with connect() as client:
        render_object(client.events.permit(account, grantee, bus=bus), output)


@buses_app.command("revoke")
def buses_revoke(
    grantee: Annotated[str, typer.Argument(help="Account to refuse from now on.")],
    account: Account,
    bus: Bus = "default",
) -> None:
    """Withdraw a permission; deliveries from that account dead-letter from now on."""
    with connect() as client:
        client.events.revoke(account, grantee, bus=bus)
    notice(f"{grantee} may no longer send to bus {bus}")
