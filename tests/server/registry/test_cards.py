"""Model cards: revisions, status workflow, registry facts, exports and SageMaker import."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI

from mlgov import AccessDenied, Conflict, InvalidRequest, NotFound
from tests.server.conftest import Team
from tests.server.registry.test_registry import LINEAGE, events, register

CONTENT = {
    "model_overview": {
        "model_description": "Scores card transactions",
        "model_owner": "fraud team",
    },
    "intended_uses": {"purpose_of_model": "flag fraud", "risk_rating": "High"},
    "business_details": {"business_problem": "chargebacks"},
}


def test_revisions_status_and_registry_facts(team: Team, app: FastAPI) -> None:
    register(team.scientist, lineage=LINEAGE, metrics={"auc": 0.93})
    reg = team.scientist.registry
    with pytest.raises(NotFound):
        reg.card("fraud-dev", "fraud", 1)
    first = reg.write_card("fraud-dev", "fraud", 1, CONTENT)
    assert (first["revision"], first["status"], first["risk_rating"]) == (1, "Draft", "High")
    overview = first["content"]["model_overview"]
    assert overview["model_description"] == "Scores card transactions"  # the author's words stay
    assert (
        overview["model_version"] == 1 and overview["algorithm_type"] == "sklearn"
    )  # facts fill in
    training = first["content"]["training_details"]["training_job_details"]
    assert training["training_arn"] == "job-42"
    assert training["training_datasets"] == ["s3://data/train.parquet"]
    assert training["training_metrics"] == [{"name": "auc", "value": 0.93}]
    assert (
        first["content"]["evaluation_details"][0]["metric_groups"][0]["metric_data"][0]["value"]
        == 0.93
    )

    with pytest.raises(AccessDenied):
        reg.set_card_status("fraud-dev", "fraud", 1, "Approved")
    approved = team.approver.registry.set_card_status("fraud-dev", "fraud", 1, "Approved")
    assert (approved["revision"], approved["status"]) == (2, "Approved")
    edited = reg.write_card(
        "fraud-dev", "fraud", 1, {**CONTENT, "intended_uses": {"risk_rating": "Medium"}}
    )
    assert (edited["revision"], edited["status"], edited["risk_rating"]) == (3, "Draft", "Medium")
    revisions = reg.card_revisions("fraud-dev", "fraud", 1)
    assert [(r["revision"], r["status"]) for r in revisions] == [
        (1, "Draft"),
        (2, "Approved"),
        (3, "Draft"),
    ]
    assert (
        revisions[0]["content"]["intended_uses"]["risk_rating"] == "High"
    )  # old revisions unchanged

    team.approver.registry.set_card_status("fraud-dev", "fraud", 1, "Archived")
    with pytest.raises(Conflict) as archived:
        reg.write_card("fraud-dev", "fraud", 1, CONTENT)
    assert archived.value.code == "MODEL_CARD_ARCHIVED"
    statuses = [e["detail"]["ModelCardStatus"] for e in events(app, "Model Card State Change")]
    assert statuses == ["Draft", "Approved", "Draft", "Archived"]


def test_exports(team: Team) -> None:
    register(team.scientist)
    team.scientist.registry.write_card(
        "fraud-dev",
        "fraud",
        1,
        {
            **CONTENT,
            "additional_information": {"caveats_and_recommendations": "<script>alert(1)</script>"},
        },
    )
    reg = team.scientist.registry
    document = json.loads(reg.export_card("fraud-dev", "fraud", 1, "json"))
    assert document["ModelCardStatus"] == "Draft" and document["ModelCardName"] == "fraud-1"
    assert (
        document["Content"]["model_package_details"]["model_approval_status"]
        == "PendingManualApproval"
    )
    markdown = reg.export_card("fraud-dev", "fraud", 1, "markdown")
    assert markdown.startswith("# Model card: fraud-1") and "## Intended uses" in markdown
    assert "**risk_rating**: High" in markdown
    page = reg.export_card("fraud-dev", "fraud", 1, "html")
    assert "<h2>Business details</h2>" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    with pytest.raises(InvalidRequest):
        reg.export_card("fraud-dev", "fraud", 1, "pdf")


def test_import_sagemaker_card(team: Team) -> None:
    register(team.scientist)
    sagemaker = {
        "ModelCardName": "fraud-detector",
        "ModelCardStatus": "PendingReview",
        "Content": json.dumps(
            {
                "model_overview": {
                    "model_description": "imported",
                    "problem_type": "Binary Classification",
                },
                "intended_uses": {"risk_rating": "low", "intended_uses": "batch scoring"},
                "evaluation_details": [
                    {
                        "name": "holdout",
                        "metric_groups": [
                            {
                                "name": "binary",
                                "metric_data": [{"name": "auc", "type": "number", "value": 0.9}],
                            }
                        ],
                    }
                ],
                "model_package_details": {
                    "model_package_arn": "arn:aws:sagemaker:eu-west-1:1:model-package/x/1"
                },
            }
        ),
    }
    card = team.scientist.registry.import_card("fraud-dev", "fraud", 1, sagemaker)
    assert card["status"] == "PendingReview" and card["risk_rating"] == "Low"
    assert card["content"]["evaluation_details"][0]["name"] == "holdout"
    assert "model_package_details" not in card["content"]  # ours is derived, never imported
    with pytest.raises(InvalidRequest) as bad:
        team.scientist.registry.import_card("fraud-dev", "fraud", 1, {"Content": "{not json"})
    assert bad.value.code == "INVALID_MODEL_CARD"


@pytest.mark.parametrize(
    "content",
    [
        {"secret_section": {}},
        {"intended_uses": {"risk_rating": "Extreme"}},
        {"evaluation_details": {"name": "not a list"}},
    ],
)
def test_invalid_cards_are_refused(team: Team, content: dict) -> None:  # type: ignore[type-arg]
    register(team.scientist)
    with pytest.raises(InvalidRequest) as refused:
        team.scientist.registry.write_card("fraud-dev", "fraud", 1, content)
    assert refused.value.code == "INVALID_MODEL_CARD"
