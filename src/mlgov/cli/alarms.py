"""``mlgov alarms``: metric and composite alarms, their state and history."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlgov.cli._connection import connect
from mlgov.cli._output import Column, Format, OutputOption, render_list, render_object
from mlgov.cli._params import Account, parse_labels

app = typer.Typer(no_args_is_help=True, help="Alarms: thresholds over metrics, and composites.")

Name = Annotated[str, typer.Argument(metavar="NAME", help="Alarm name.")]
Actions = Annotated[
    list[str] | None,
    typer.Option(
        metavar="RULE_ARN",
        help="An event rule (mlgov:events:ACCOUNT:rule/BUS/RULE) whose targets get the state "
        "change on a transition into this state; repeat for more (at most 5).",
    ),
]
ALARM_COLUMNS = [
    Column("NAME", "name"),
    Column("KIND", "kind"),
    Column("STATE", "state_value"),
    Column("SINCE", "state_updated_at"),
    Column("METRIC", lambda a: f"{a['namespace']}/{a['metric_name']}" if a["namespace"] else ""),
    Column("RULE", "alarm_rule"),
    Column("ACTIONS", "actions_enabled"),
]
HISTORY_COLUMNS = [
    Column("TIME", "timestamp"),
    Column("TYPE", "item_type"),
    Column("SUMMARY", "summary"),
    Column("REASON", "data.newState.reason"),
]


def _actions(
    enabled: bool, alarm: list[str] | None, ok: list[str] | None, insufficient: list[str] | None
) -> dict[str, Any]:
    return {
        "actions_enabled": enabled,
        "alarm_actions": alarm or [],
        "ok_actions": ok or [],
        "insufficient_data_actions": insufficient or [],
    }


@app.command("put")
def put(
    account: Account,
    name: Name,
    namespace: Annotated[str, typer.Option(help="The metric's namespace.")],
    metric_name: Annotated[str, typer.Option(help="The metric's name.")],
    threshold: Annotated[float, typer.Option(help="Compared with the statistic.")],
    comparison_operator: Annotated[
        str,
        typer.Option(
            help="GreaterThanOrEqualToThreshold, GreaterThanThreshold, LessThanThreshold or "
            "LessThanOrEqualToThreshold."
        ),
    ],
    dimension: Annotated[
        list[str] | None,
        typer.Option("--dimension", metavar="NAME=VALUE", help="The metric's dimension; repeat."),
    ] = None,
    statistic: Annotated[
        str | None, typer.Option(help="SampleCount, Sum, Average, Minimum or Maximum.")
    ] = None,
    extended_statistic: Annotated[str | None, typer.Option(help="A percentile, e.g. p99.")] = None,
    period: Annotated[int, typer.Option(help="Seconds; a multiple of 60.")] = 60,
    evaluation_periods: Annotated[int, typer.Option(help="N: periods evaluated.")] = 1,
    datapoints_to_alarm: Annotated[
        int | None, typer.Option(help="M: breaching periods of N for ALARM (default N).")
    ] = None,
    treat_missing_data: Annotated[
        str, typer.Option(help="missing, notBreaching, breaching or ignore.")
    ] = "missing",
    unit: Annotated[str | None, typer.Option(help="Only data of this unit.")] = None,
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    alarm_action: Actions = None,
    ok_action: Actions = None,
    insufficient_data_action: Actions = None,
    actions_enabled: Annotated[bool, typer.Option(help="Run actions on transitions.")] = True,
    output: OutputOption = Format.TABLE,
) -> None:
    """Create or replace a metric alarm (replacing keeps its state)."""
    config: dict[str, Any] = {
        "treat_missing_data": treat_missing_data,
        "description": description,
        **_actions(actions_enabled, alarm_action, ok_action, insufficient_data_action),
    }
    if datapoints_to_alarm is not None:
        config["datapoints_to_alarm"] = datapoints_to_alarm
    if unit is not None:
        config["unit"] = unit
    with connect() as client:
        alarm = client.alarms.put_metric_alarm(
            account,
            name,
            namespace=namespace,
            metric_name=metric_name,
            dimensions=parse_labels(dimension),
            threshold=threshold,
            comparison_operator=comparison_operator,
            statistic=statistic,
            extended_statistic=extended_statistic,
            period=period,
            evaluation_periods=evaluation_periods,
            **config,
        )
    render_object(alarm, output)


@app.command("put-composite")
def put_composite(
    account: Account,
    name: Name,
    rule: Annotated[str, typer.Option(help='e.g. "ALARM(cpu) AND NOT OK(deploy)".')],
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    alarm_action: Actions = None,
    ok_action: Actions = None,
    insufficient_data_action: Actions = None,
    actions_enabled: Annotated[bool, typer.Option(help="Run actions on transitions.")] = True,
    output: OutputOption = Format.TABLE,
) -> None:
    """Create or replace a composite alarm over other alarms of the account."""
    with connect() as client:
        alarm = client.alarms.put_composite_alarm(
            account,
            name,
            rule,
            description=description,
            **_actions(actions_enabled, alarm_action, ok_action, insufficient_data_action),
        )
    render_object(alarm, output)


@app.command("list")
def list_(
    account: Account,
    state: Annotated[str | None, typer.Option(help="OK, ALARM or INSUFFICIENT_DATA.")] = None,
    kind: Annotated[str | None, typer.Option(help="metric or composite.")] = None,
    name_prefix: Annotated[str | None, typer.Option(help="Names starting with this.")] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """List alarms, by name."""
    with connect() as client:
        render_list(
            client.alarms.list(account, state=state, kind=kind, name_prefix=name_prefix),
            ALARM_COLUMNS,
            output,
        )


@app.command("describe")
def describe(account: Account, name: Name, output: OutputOption = Format.TABLE) -> None:
    """Show one alarm: configuration, actions and state."""
    with connect() as client:
        render_object(client.alarms.get(account, name), output)


@app.command("history")
def history(
    account: Account,
    name: Name,
    item_type: Annotated[
        str | None, typer.Option(help="StateUpdate or ConfigurationUpdate.")
    ] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """State and configuration changes, newest first (kept two weeks)."""
    with connect() as client:
        render_list(
            client.alarms.history(account, name, item_type=item_type), HISTORY_COLUMNS, output
        )


@app.command("set-state")
def set_state(
    account: Account,
    name: Name,
    state: Annotated[str, typer.Argument(help="OK, ALARM or INSUFFICIENT_DATA.")],
    reason: Annotated[str, typer.Option(help="Why; recorded in history and the event.")],
    output: OutputOption = Format.TABLE,
) -> None:
    """Force a state until the next evaluation (to test actions and routing)."""
    with connect() as client:
        render_object(client.alarms.set_state(account, name, state, reason), output)


@app.command("enable-actions")
def enable_actions(account: Account, name: Name, output: OutputOption = Format.TABLE) -> None:
    """Run the alarm's actions on its transitions again."""
    with connect() as client:
        render_object(client.alarms.enable_actions(account, name), output)


@app.command("disable-actions")
def disable_actions(account: Account, name: Name, output: OutputOption = Format.TABLE) -> None:
    """Keep state changes and their events, but deliver nothing to the alarm's actions."""
    with connect() as client:
        render_object(client.alarms.disable_actions(account, name), output)


@app.command("delete")
def delete(account: Account, name: Name) -> None:
    """Delete an alarm (not while a composite alarm names it); its history stays two weeks."""
    with connect() as client:
        client.alarms.delete(account, name)
