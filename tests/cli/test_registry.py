"""models, versions and cards through the CLI, against the app in-process."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select
from typer.testing import Result

from mlgov.server.registry.tables import ModelVersion
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


def test_versions_list_since_until(cli: Cli, app: FastAPI, tmp_path: Path) -> None:
    _accounts(cli)
    dev = ("--account", "fraud-dev")
    cli("models", "create", "churn", *dev)
    artifact = str(_file(tmp_path))
    for _ in range(3):
        cli("versions", "create", "churn", *dev, "--flavor", "sklearn", "--artifact", artifact)
    now = datetime.now(UTC)
    created = {1: now - timedelta(days=10), 2: now - timedelta(days=2), 3: now - timedelta(hours=1)}
    with app.state.runtime.session_factory() as session:
        for row in session.execute(select(ModelVersion)).scalars():
            row.created_at = created[row.version]
        session.commit()

    def listed(*options: str) -> list[int]:
        return [
            v["version"] for v in as_json(cli("versions", "list", *dev, *options, "-o", "json"))
        ]

    assert listed() == [1, 2, 3]
    # Durations count back from now.
    assert listed("--since", "3d") == [2, 3]
    assert listed("--until", "1d") == [1, 2]
    assert listed("--since", "3d", "--until", "1d") == [2]
    assert listed("--since", "30m") == []
    assert listed("--since", "1w", "--tag", "missing") == []
    # ISO 8601: with an offset, or without one (taken as UTC).
    v2 = created[2]
    assert listed("--since", (v2 - timedelta(minutes=1)).astimezone().isoformat()) == [2, 3]
    naive = (v2 + timedelta(minutes=1)).replace(tzinfo=None).isoformat()
    assert listed("--until", naive) == [1, 2]
    assert listed("--since", naive) == [3]
    bad = cli("versions", "list", *dev, "--since", "last tuesday", code=2)
    assert "is not a time" in bad.stderr


def test_cards_import_and_export_json(cli: Cli, tmp_path: Path) -> None:
    _accounts(cli)
    dev = ("--account", "fraud-dev")
    cli("models", "create", "churn", *dev)
    artifact = str(_file(tmp_path))
    for _ in range(2):
        cli("versions", "create", "churn", *dev, "--flavor", "sklearn", "--artifact", artifact,
            "--metric", "auc=0.9")  # fmt: skip
    described = tmp_path / "describe-model-card.json"
    described.write_text(
        json.dumps(
            {
                "ModelCardName": "churn-sagemaker",
                "ModelCardStatus": "PendingReview",
                "Content": json.dumps(
                    {
                        "model_overview": {"model_description": "predicts churn"},
                        "intended_uses": {"risk_rating": "Medium", "purpose_of_model": "retention"},
                    }
                ),
            }
        )
    )
    imported = as_json(cli("cards", "import", "churn", "1", *dev, str(described), "-o", "json"))
    assert imported["revision"] == 1
    assert imported["status"] == "PendingReview" and imported["risk_rating"] == "Medium"
    assert imported["content"]["model_overview"]["model_description"] == "predicts churn"

    # JSON export: the SageMaker DescribeModelCard shape, to stdout or to a file.
    exported = json.loads(cli("cards", "export", "churn", "1", *dev, "--format", "json").stdout)
    assert exported["ModelCardStatus"] == "PendingReview" and exported["ModelCardVersion"] == 1
    content = exported["Content"]
    assert content["intended_uses"]["purpose_of_model"] == "retention"
    assert content["intended_uses"]["risk_rating"] == "Medium"
    assert content["model_package_details"]["model_package_version"] == 1
    target = tmp_path / "card.json"
    done = cli("cards", "export", "churn", "1", *dev, "-f", "json", "--to", str(target))
    assert json.loads(target.read_text()) == exported and "wrote the card as json" in done.stderr

    # An exported card imports into another version; the package details are that version's.
    again = as_json(cli("cards", "import", "churn", "2", *dev, str(target), "-o", "json"))
    assert again["status"] == "PendingReview" and again["risk_rating"] == "Medium"
    second = json.loads(cli("cards", "export", "churn", "2", *dev, "-f", "json").stdout)
    assert second["Content"]["model_overview"] == content["model_overview"]
    assert second["Content"]["model_package_details"]["model_package_version"] == 2

    # Bad input: not an object, not JSON inside, no such file.
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]")
    not_object = cli("cards", "import", "churn", "1", *dev, str(listing), code=2)
    assert "JSON object" in not_object.stderr
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"Content": "{not json"}))
    refused = cli("cards", "import", "churn", "1", *dev, str(broken), code=1)
    assert refused.stderr.startswith("ERROR INVALID_MODEL_CARD: ")
    cli("cards", "import", "churn", "1", *dev, str(tmp_path / "missing.json"), code=2)
    revisions = as_json(cli("cards", "revisions", "churn", "1", *dev, "-o", "json"))
    assert [r["revision"] for r in revisions] == [1]


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
