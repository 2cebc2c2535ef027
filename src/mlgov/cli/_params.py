"""Option parsing shared by the commands: times, labels, and one-of-several scopes."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from mlgov.cli._output import usage_error

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
TIME_HELP = "ISO 8601 (UTC unless it names an offset) or a duration such as 30m, 12h, 7d"


def _parse_time(value: str, *, future: bool) -> datetime:
    text = value.strip()
    match = _DURATION.match(text)
    if match:
        delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        now = datetime.now(UTC)
        return now + delta if future else now - delta
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a time: use {TIME_HELP}") from None
    # The server stores UTC; a bare local-looking time is taken as UTC, as the help says.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def past_time(value: str) -> datetime:
    """A point in time; a duration counts back from now (``--since 1h``)."""
    return _parse_time(value, future=False)


def future_time(value: str) -> datetime:
    """A point in time; a duration counts forward from now (``--expires-at 90d``)."""
    return _parse_time(value, future=True)


Since = Annotated[
    datetime | None,
    typer.Option(parser=past_time, metavar="TIME", help=f"From this time ({TIME_HELP}, ago)."),
]
Until = Annotated[
    datetime | None,
    typer.Option(parser=past_time, metavar="TIME", help=f"Up to this time ({TIME_HELP}, ago)."),
]


def parse_labels(pairs: list[str] | None, option: str = "--label") -> dict[str, str]:
    """``KEY=VALUE`` options (labels, tags, parameters) as a map; the last of a key wins."""
    labels: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint=option)
        labels[key] = value
    return labels


def exactly_one(**options: str | None) -> tuple[str, str]:
    """The one option (name, value) given among ``options``; a usage error otherwise."""
    given = {name: value for name, value in options.items() if value is not None}
    if len(given) != 1:
        names = " | ".join(f"--{name.replace('_', '-')}" for name in options)
        usage_error(f"give exactly one of {names}")
    return next(iter(given.items()))


def scope_kwargs(account: str | None, org_unit: str | None) -> Mapping[str, str]:
    name, value = exactly_one(account=account, org_unit=org_unit)
    return {name: value}


# Every account-scoped command takes its account the same way.
Account = Annotated[
    str,
    typer.Option(
        "--account",
        "-a",
        envvar="MLGOV_ACCOUNT",
        help="Account id or name the resource lives in (env MLGOV_ACCOUNT).",
    ),
]


GroundTruthLabels = Annotated[
    list[str] | None,
    typer.Option(metavar="INFERENCE_ID=LABEL", help="One label; repeat for more."),
]
GroundTruthFile = Annotated[
    Path | None,
    typer.Option(exists=True, dir_okay=False, help="Ground-truth JSON lines (SageMaker)."),
]


def ground_truth_payload(
    labels: list[str] | None, file: Path | None
) -> dict[str, str] | list[dict[str, Any]]:
    """``--label ID=LABEL`` options as a map, or the records of a ground-truth JSON-lines file."""
    if (labels is None) == (file is None):
        raise typer.BadParameter("give --label ID=LABEL (repeatable) or --file")
    if file is None:
        return parse_labels(labels, "--label")
    lines = file.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line]
