"""models, versions and cards through the CLI, against the app in-process."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from typer.testing import Result

from tests.cli.conftest import Cli


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def _accounts(cli: Cli) -> None:
    cli("accounts", "create", "fraud-dev", "--environment", "dev")
    cli("accounts", "create", "fraud-prod", "--environment", "prod")


def test_register_approve_alias_promote_download(cli: Cli, tmp_path: Path) -> None:
    _accounts(cli)
    model = tmp_path / "model.bin"
    model.write_bytes(b"\x00weights\xff" * 1000)
    dev = ("--account", "fraud-dev")
    cli("models", "create", "churn", *dev, "--description", "churn model", "--tag", "team=fraud")
    created = as_json(
        cli(
            "versions", "create", "churn", *dev,
            "--flavor", "sklearn",
            "--artifact", str(model),
            "--metric", "auc=0.91",
            "--param", "depth=6",
            "--param", "criterion=gini",
            "--dataset", "s3://data/train.parquet#sha256=" + "a" * 64,
            "--code-repository", "https://git.example/churn",
            "--code-commit", "abc123",
            "--training-job", "job-7",
            "-o", "json",
        )
    )  # fmt: skip
    assert created["version"] == 1
    assert created["approval_status"] == "PendingManualApproval"
    assert created["artifact"]["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert created["metrics"] == {"auc": 0.91}
    assert created["parameters"] == {"depth": 6, "criterion": "gini"}
    assert created["lineage"]["datasets"] == [
        {"uri": "s3://data/train.parquet", "sha256": "a" * 64}
    ]
    assert created["lineage"]["code"] == {
        "repository": "https://git.example/churn",
        "commit": "abc123",
    }

    # Four-eyes: the creator may not decide on their own version until the account allows it.
    refused = cli("versions", "approve", "churn", "1", *dev, code=1)
    assert refused.stderr.startswith("ERROR SELF_APPROVAL_FORBIDDEN: ")
    settings = as_json(cli("models", "settings", "set", *dev, "--no-four-eyes", "-o", "json"))
    assert settings["four_eyes"] is False
    approved = as_json(
        cli("versions", "approve", "churn", "1", *dev, "--comment", "ok", "-o", "json")
    )
    assert approved["status"] == "Approved"
    history = as_json(cli("versions", "approvals", "churn", "1", *dev, "-o", "json"))
    assert [(h["status"], h["comment"]) for h in history] == [("Approved", "ok")]

    cli("models", "aliases", "set", "churn", "champion", "1", *dev)
    assert "champion" in cli("models", "aliases", "list", "churn", *dev).stdout
    listed = as_json(cli("versions", "list", *dev, "--alias", "champion", "-o", "json"))
    assert [v["version"] for v in listed] == [1]
    assert as_json(cli("versions", "list", *dev, "--status", "Rejected", "-o", "json")) == []

    promoted = as_json(
        cli("versions", "promote", "churn", "1", *dev, "--to", "fraud-prod", "-o", "json")
    )
    assert promoted["artifact"] == created["artifact"]
    assert promoted["promoted_from"]["version"] == 1

    target = tmp_path / "back.bin"
    done = cli("versions", "download", "churn", "1", "--account", "fraud-prod", "--to", str(target))
    assert target.read_bytes() == model.read_bytes()
    assert "verified" in done.stderr


def test_cards_write_revise_status_export(cli: Cli, tmp_path: Path) -> None:
    _accounts(cli)
    dev = ("--account", "fraud-dev")
    cli("models", "create", "churn", *dev)
    uploaded = as_json(cli("versions", "upload", *dev, str(_file(tmp_path)), "-o", "json"))
    cli("versions", "create", "churn", *dev, "--flavor", "sklearn",
        "--artifact-sha256", uploaded["sha256"])  # fmt: skip
    content = tmp_path / "card.json"
    content.write_text(json.dumps({"model_overview": {"model_description": "predicts churn"}}))
    cli("cards", "write", "churn", "1", *dev, "--content", f"@{content}", "--risk-rating", "Low")
    cli("cards", "write", "churn", "1", *dev, "--content",
        '{"intended_uses": {"purpose_of_model": "retention"}}')  # fmt: skip
    revisions = as_json(cli("cards", "revisions", "churn", "1", *dev, "-o", "json"))
    assert [r["revision"] for r in revisions] == [1, 2]
    assert (
        as_json(cli("cards", "status", "churn", "1", "PendingReview", *dev, "-o", "json"))["status"]
        == "PendingReview"
    )
    markdown = cli("cards", "export", "churn", "1", *dev).stdout
    assert markdown.startswith("#") and "retention" in markdown
    html = tmp_path / "card.html"
    cli("cards", "export", "churn", "1", *dev, "--format", "html", "--to", str(html))
    assert "<html" in html.read_text().lower()


def test_grants_share_a_group_with_another_account(cli: Cli) -> None:
    _accounts(cli)
    cli("models", "create", "central", "--account", "fraud-dev")
    cli("models", "grants", "put", "central", "fraud-prod", "--account", "fraud-dev", "-p", "read")
    grants = as_json(
        cli("models", "grants", "list", "central", "--account", "fraud-dev", "-o", "json")
    )
    assert [g["permissions"] for g in grants] == [["read"]]
    shared = as_json(cli("models", "list", "--shared", "--account", "fraud-prod", "-o", "json"))
    assert [s["name"] for s in shared] == ["central"]
    cli("models", "grants", "revoke", "central", "fraud-prod", "--account", "fraud-dev")
    assert as_json(cli("models", "list", "--shared", "--account", "fraud-prod", "-o", "json")) == []


def test_bad_input_is_a_usage_error_not_a_traceback(cli: Cli, tmp_path: Path) -> None:
    _accounts(cli)
    dev = ("--account", "fraud-dev")
    cli("models", "create", "churn", *dev)
    artifact = str(_file(tmp_path))
    bad_metric = cli("versions", "create", "churn", *dev, "--flavor", "sklearn",
                     "--artifact", artifact, "--metric", "auc=high", code=2)  # fmt: skip
    assert "NAME=NUMBER" in bad_metric.stderr
    both = cli("versions", "create", "churn", *dev, "--flavor", "sklearn", "--artifact", artifact,
               "--artifact-sha256", "0" * 64, code=2)  # fmt: skip
    assert "exactly one" in both.stderr
    not_json = cli("cards", "write", "churn", "1", *dev, "--content", "{oops", code=2)
    assert "not valid JSON" in not_json.stderr
    unknown = cli("versions", "get", "churn", "9", *dev, code=1)
    assert unknown.stderr.startswith("ERROR MODEL_VERSION_NOT_FOUND: ")
    flavor = cli("versions", "create", "churn", *dev, "--flavor", "pickle", "--artifact", artifact,
                 code=1)  # fmt: skip
    assert flavor.stderr.startswith("ERROR INVALID_REQUEST")


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "artifact.bin"
    path.write_bytes(b"model")
    return path
