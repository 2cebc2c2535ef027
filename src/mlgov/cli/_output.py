"""How the CLI prints: Rich tables for people, stable JSON (and CSV) for scripts, one error shape.

Results go to stdout; notices and errors go to stderr, so ``-o json | jq`` always sees clean JSON.
Errors print as ``ERROR CODE: message`` and exit 1; configuration and usage errors exit 2.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

Json = dict[str, Any]

EXIT_FAILED = 1
EXIT_USAGE = 2


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


class QueryFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


OutputOption = Annotated[
    Format,
    typer.Option(
        "--output",
        "-o",
        envvar="MLGOV_OUTPUT",
        case_sensitive=False,
        help="table for people, json for scripts (a JSON array for lists, an object otherwise).",
    ),
]


class CliError(Exception):
    """A failure the user can act on: printed as ``ERROR CODE: message``, never as a traceback."""

    def __init__(self, code: str, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.exit_code = exit_code


class ConfigError(CliError):
    """The CLI's own configuration (profiles, environment) is wrong or incomplete."""

    def __init__(self, message: str) -> None:
        super().__init__("INVALID_CONFIG", message, EXIT_USAGE)


def usage_error(message: str) -> NoReturn:
    raise CliError("INVALID_USAGE", message, EXIT_USAGE)


def fail(code: str, message: str, exit_code: int = EXIT_FAILED) -> NoReturn:
    error(f"ERROR {code}: {message}")
    raise typer.Exit(exit_code)


def notice(message: str) -> None:
    """A human-facing line on stderr: never mixed into machine-readable stdout."""
    _console(stderr=True).print(message, highlight=False, markup=False)


def error(message: str) -> None:
    # Plain write, not Rich: error lines must not be wrapped or restyled, scripts grep them.
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _console(*, stderr: bool = False) -> Console:
    # Built per call so output follows sys.stdout/sys.stderr as they are now (tests swap them).
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


# --- values ------------------------------------------------------------------------------------

_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]00:00)?$")


def cell(value: Any) -> str:
    """One value as table text: UTC timestamps to the second, maps as k=v, nothing as '-'."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value) or "-"
    if isinstance(value, str):
        match = _TIMESTAMP.match(value)
        if match and match.group(3):
            return f"{match.group(1)} {match.group(2)}Z"
    return str(value)


def dig(item: Mapping[str, Any], dotted: str) -> Any:
    """``item["a"]["b"]`` for ``"a.b"``; None where a level is missing."""
    value: Any = item
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


@dataclass(frozen=True)
class Column:
    header: str
    key: str | Callable[[Json], Any]

    def value(self, item: Json) -> Any:
        return self.key(item) if callable(self.key) else dig(item, self.key)


# --- rendering ---------------------------------------------------------------------------------


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for header in columns:
        # fold, never crop or ellipsis: ids are copied out of these tables.
        grid.add_column(header, overflow="fold")
    for row in rows:
        # Text, not markup: values like "[champion]" or "a[0]" must print as they are.
        grid.add_row(*(Text(value) for value in row))
    console = _console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        # Piped output keeps one line per row, for grep and friends; a terminal wraps instead.
        unbounded = console.options.update_width(1_000_000)
        console.width = max(console.width, console.measure(grid, options=unbounded).maximum)
    console.print(grid)


def render_list(items: Iterable[Json], columns: Sequence[Column], output: Format) -> None:
    if output is Format.JSON:
        print_json(list(items))
        return
    table([c.header for c in columns], ([cell(c.value(item)) for c in columns] for item in items))


def render_object(item: Json, output: Format, *, hide: Sequence[str] = ()) -> None:
    """One object: as JSON, or as a two-column field/value table without the ``hide`` fields."""
    if output is Format.JSON:
        print_json(item)
        return
    table(
        ["FIELD", "VALUE"],
        ([key, cell(value)] for key, value in item.items() if key not in hide),
    )


def render_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], output: QueryFormat) -> None:
    """Rows of a SQL result; JSON is an array of objects keyed by column name."""
    if output is QueryFormat.JSON:
        print_json([dict(zip(columns, row, strict=True)) for row in rows])
    elif output is QueryFormat.CSV:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_csv_value(v) for v in row] for row in rows)
        sys.stdout.flush()
    else:
        table(columns, ([cell(v) for v in row] for row in rows))


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value
