"""``mlgov metrics``: put datapoints, read statistics, list metrics (CloudWatch semantics)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from mlgov.cli._connection import connect
from mlgov.cli._output import Column, Format, OutputOption, cell, print_json, render_list, table
from mlgov.cli._params import TIME_HELP, Account, Until, parse_labels, past_time

app = typer.Typer(
    no_args_is_help=True, help="Metrics: time series with statistics and percentiles."
)

Namespace = Annotated[str, typer.Option(help="Namespace, e.g. MyApp/Inference.")]
MetricName = Annotated[str, typer.Option(help="Metric name.")]
Dimensions = Annotated[
    list[str] | None,
    typer.Option("--dimension", metavar="NAME=VALUE", help="A dimension; repeat for more."),
]
Start = Annotated[
    datetime, typer.Option(parser=past_time, metavar="TIME", help=f"Start ({TIME_HELP}, ago).")
]
STAT_FIELDS = {
    "SampleCount": "sample_count",
    "Sum": "sum",
    "Average": "average",
    "Minimum": "minimum",
    "Maximum": "maximum",
}
METRIC_COLUMNS = [
    Column("NAMESPACE", "namespace"),
    Column("METRIC", "metric_name"),
    Column("DIMENSIONS", lambda m: {d["name"]: d["value"] for d in m["dimensions"]}),
    Column("UNIT", "unit"),
    Column("LAST DATAPOINT", "last_timestamp"),
]


def _dimensions(pairs: list[str] | None) -> dict[str, str]:
    return parse_labels(pairs, "--dimension")


@app.command("put")
def put(
    account: Account,
    namespace: Namespace,
    metric_name: MetricName,
    value: Annotated[
        list[float],
        typer.Option("--value", help="A value; repeat to send a Values array in one datum."),
    ],
    dimension: Dimensions = None,
    unit: Annotated[str | None, typer.Option(help="Seconds, Milliseconds, Count, ...")] = None,
    timestamp: Annotated[
        datetime | None,
        typer.Option(parser=past_time, metavar="TIME", help=f"When ({TIME_HELP}); default now."),
    ] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Put one datum: a single value, or several values as one Values array."""
    datum: dict[str, object] = {
        "metric_name": metric_name,
        "dimensions": [{"name": k, "value": v} for k, v in _dimensions(dimension).items()],
    }
    if len(value) == 1:
        datum["value"] = value[0]
    else:
        datum["values"] = value
    if unit:
        datum["unit"] = unit
    if timestamp:
        datum["timestamp"] = timestamp.isoformat()
    with connect() as client:
        result = client.metrics.put(account, namespace, [datum])
    if output is Format.JSON:
        print_json(result)
    else:
        table(["ACCEPTED", "METRICS"], [[str(result["accepted"]), str(result["metrics"])]])


@app.command("get")
def get(
    account: Account,
    namespace: Namespace,
    metric_name: MetricName,
    dimension: Dimensions = None,
    since: Start = "1h",  # type: ignore[assignment]  # Typer runs the parser on the default
    until: Until = None,
    period: Annotated[int, typer.Option(help="Seconds per datapoint; a multiple of 60.")] = 60,
    statistic: Annotated[
        list[str] | None,
        typer.Option(help="SampleCount, Sum, Average, Minimum or Maximum; repeat for more."),
    ] = None,
    percentile: Annotated[
        list[str] | None, typer.Option(help="An extended statistic such as p99; repeat for more.")
    ] = None,
    unit: Annotated[str | None, typer.Option(help="Only data of this unit.")] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Statistics over aligned periods (Average when nothing is asked for)."""
    stats = list(statistic or ([] if percentile else ["Average"]))
    with connect() as client:
        result = client.metrics.statistics(
            account,
            namespace,
            metric_name,
            start_time=since,
            end_time=until or datetime.now(UTC),
            period=period,
            statistics=stats,
            extended_statistics=list(percentile or []),
            dimensions=_dimensions(dimension),
            unit=unit,
        )
    if output is Format.JSON:
        print_json(result)
        return
    headers = ["TIMESTAMP", "UNIT", *stats, *(percentile or [])]
    rows = [
        [
            cell(point["timestamp"]),
            point["unit"],
            *(cell(point.get(STAT_FIELDS.get(s, s))) for s in stats),
            *(cell((point.get("extended_statistics") or {}).get(p)) for p in percentile or []),
        ]
        for point in result["datapoints"]
    ]
    table(headers, rows)


@app.command("data")
def data(
    account: Account,
    expression: Annotated[
        list[str] | None,
        typer.Option(
            metavar="ID=EXPRESSION",
            help="Metric math, e.g. total=SUM(SEARCH('{NS,Dim} MetricName=\"m\"', 'Sum', 60)); "
            "repeat for more; later ones may read earlier ids.",
        ),
    ] = None,
    query_file: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="A JSON list of queries (metric_stat or expression)."
        ),
    ] = None,
    hide: Annotated[
        list[str] | None, typer.Option(metavar="ID", help="Compute but do not print this query.")
    ] = None,
    since: Start = "1h",  # type: ignore[assignment]  # Typer runs the parser on the default
    until: Until = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Several series at once, and metric math over them (GetMetricData)."""
    queries: list[dict[str, Any]] = []
    if query_file is not None:
        try:
            loaded = json.loads(query_file.read_text())
        except ValueError as exc:
            raise typer.BadParameter(f"not JSON: {exc}", param_hint="--query-file") from exc
        if not isinstance(loaded, list):
            raise typer.BadParameter("must hold a JSON list of queries", param_hint="--query-file")
        queries.extend(loaded)
    for item in expression or []:
        query_id, sep, text = item.partition("=")
        if not sep or not query_id or not text:
            raise typer.BadParameter(f"{item!r} is not ID=EXPRESSION", param_hint="--expression")
        queries.append({"id": query_id, "expression": text})
    if not queries:
        raise typer.BadParameter("give --expression or --query-file", param_hint="--expression")
    for query in queries:
        if isinstance(query, dict) and query.get("id") in (hide or []):
            query["return_data"] = False
    with connect() as client:
        results = client.metrics.data(
            account, queries, start_time=since, end_time=until or datetime.now(UTC)
        )
    if output is Format.JSON:
        print_json(results)
        return
    rows = [
        [result["id"], result["label"], cell(stamp), cell(value)]
        for result in results
        for stamp, value in zip(result["timestamps"], result["values"], strict=True)
    ]
    table(["ID", "LABEL", "TIMESTAMP", "VALUE"], rows)


@app.command("list")
def list_(
    account: Account,
    namespace: Annotated[str | None, typer.Option(help="Only this namespace.")] = None,
    metric_name: Annotated[str | None, typer.Option(help="Only this metric name.")] = None,
    dimension: Annotated[
        list[str] | None,
        typer.Option("--dimension", metavar="NAME[=VALUE]", help="Must have it; repeat for more."),
    ] = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Metrics with data in the last two weeks."""
    with connect() as client:
        render_list(
            client.metrics.list(
                account, namespace=namespace, metric_name=metric_name, dimensions=dimension or []
            ),
            METRIC_COLUMNS,
            output,
        )
