"""Options the registry commands share: group and version arguments, JSON and pair inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mlgov.cli._output import usage_error

Group = Annotated[str, typer.Argument(metavar="GROUP", help="Model group name.")]
Version = Annotated[int, typer.Argument(metavar="VERSION", min=1, help="Version number.")]


def read_json(source: str, what: str) -> Any:
    """JSON from ``@path`` (a file), ``-`` never: inline text otherwise."""
    text = source
    if source.startswith("@"):
        path = Path(source[1:])
        if not path.is_file():
            usage_error(f"{what}: no such file {path}")
        text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        usage_error(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}")


def parse_numbers(pairs: list[str] | None, option: str) -> dict[str, float]:
    numbers: dict[str, float] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        try:
            numbers[key] = float(value)
        except ValueError:
            sep = ""
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not NAME=NUMBER", param_hint=option)
    return numbers


def parse_values(pairs: list[str] | None, option: str) -> dict[str, Any]:
    """``KEY=VALUE`` where VALUE is read as JSON when it parses (numbers, booleans), else text."""
    values: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint=option)
        try:
            values[key] = json.loads(value)
        except json.JSONDecodeError:
            values[key] = value
    return values
