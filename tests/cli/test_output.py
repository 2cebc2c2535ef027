"""Output formats, the error shape and exit codes, help and version."""

from __future__ import annotations

import json

import pytest

from mlgov import __version__
from mlgov.cli._output import cell, table
from tests.cli.conftest import Cli


def test_json_is_the_api_object_and_table_is_for_people(cli: Cli) -> None:
    made = json.loads(
        cli(
            "accounts",
            "create",
            "team-a",
            "--environment",
            "dev",
            "--label",
            "team=a",
            "-o",
            "json",
        ).stdout
    )
    got = json.loads(cli("accounts", "get", "team-a", "-o", "json").stdout)
    assert got == made
    assert set(got) >= {"id", "name", "environment", "org_unit_id", "labels", "created_at"}
    assert json.loads(cli("accounts", "list", "-o", "json").stdout) == [got]
    assert json.loads(cli("accounts", "list", "--environment", "prod", "-o", "json").stdout) == []

    table = cli("accounts", "get", "team-a").stdout
    assert "FIELD" in table and got["id"] in table and "team=a" in table
    listing = cli("accounts", "list").stdout
    assert listing.splitlines()[0].split() == ["ID", "NAME", "ENVIRONMENT", "ORG", "UNIT", "LABELS"]
    assert got["id"] in listing
    # MLGOV_OUTPUT sets the default for a whole session; -o still wins.
    assert json.loads(cli("accounts", "get", "team-a", env={"MLGOV_OUTPUT": "json"}).stdout) == got
    assert (
        "FIELD"
        in cli("accounts", "get", "team-a", "-o", "table", env={"MLGOV_OUTPUT": "json"}).stdout
    )
    assert json.loads(cli("accounts", "get", "team-a", "-o", "JSON").stdout) == got


def test_piped_tables_keep_one_line_per_row(cli: Cli) -> None:
    long = "x" * 150
    cli("accounts", "create", "team-a", "--environment", "dev", "--label", f"note={long}")
    # Not a terminal and no COLUMNS: as wide as the rows need, for grep.
    lines = cli("accounts", "list", env={"COLUMNS": None}).stdout.splitlines()
    assert len(lines) == 3 and long in lines[2] and "team-a" in lines[2]
    # A narrow terminal folds instead, and loses nothing.
    narrow = cli("accounts", "list", env={"COLUMNS": "60"}).stdout
    assert len(narrow.splitlines()) > 3
    assert "".join(narrow.split()).count("x") >= 150


def test_errors_are_one_line_with_the_code(cli: Cli) -> None:
    missing = cli("accounts", "get", "no-such-account", code=1)
    assert missing.stdout == ""
    assert missing.stderr == "ERROR ACCOUNT_NOT_FOUND: account no-such-account does not exist\n"
    # In JSON mode too: stdout stays empty rather than holding half a document.
    assert cli("accounts", "get", "no-such-account", "-o", "json", code=1).stdout == ""
    assert cli("accounts", "list", "-o", "yaml", code=2).stdout == ""
    cli("accounts", "frobnicate", code=2)
    cli("accounts", "create", "x", code=2)  # --environment is required
    bad_key = cli("accounts", "list", key="not-a-key", code=1)
    assert bad_key.stderr.startswith("ERROR UNAUTHENTICATED: ")


def test_help_and_version(bare_cli: Cli) -> None:
    top = bare_cli("--help").stdout
    for noun in (
        "server",
        "worker",
        "init",
        "db",
        "org-units",
        "accounts",
        "principals",
        "keys",
        "roles",
        "audit",
    ):
        assert noun in top
    assert bare_cli("--version").stdout.strip() == f"mlgov {__version__}"
    assert "whoami" in bare_cli("principals", "--help").stdout
    assert "Usage" in bare_cli("audit", code=2).stdout + bare_cli("audit", code=2).stderr


def test_cells() -> None:
    assert cell(None) == "-" and cell("") == "-"
    assert cell(True) == "yes" and cell(False) == "no"
    assert cell({"a": "1", "b": "2"}) == "a=1, b=2" and cell({}) == "-"
    assert cell(["x", None]) == "x, -"
    assert cell("2026-11-22T01:22:54.123456Z") == "2026-11-22 01:22:54Z"
    assert cell("2026-11-22T01:22:54+00:00") == "2026-11-22 01:22:54Z"
    # Times in another zone, or without one, are shown as they are rather than mislabelled UTC.
    assert cell("2026-11-22T01:22:54+02:00") == "2026-11-22T01:22:54+02:00"
    assert cell(42) == "42"


def test_table_cells_are_text_not_markup(capsys: pytest.CaptureFixture[str]) -> None:
    table(["VALUE"], [["cancer:2 [champion]"], ["[bold]x[/bold]"]])
    out = capsys.readouterr().out
    assert "cancer:2 [champion]" in out and "[bold]x[/bold]" in out
