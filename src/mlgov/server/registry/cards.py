"""Model cards in the sections of the SageMaker model card schema, one card per version.

Every edit, of content or of status, is a new immutable revision. What the registry knows of the
version (ids, artifact, training lineage, metrics) fills the sections the author left out.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from mlgov.errors import Conflict, ErrorCode, InvalidRequest, NotFound
from mlgov.server.db.base import utc_now
from mlgov.server.kit import outbox
from mlgov.server.kit.context import Caller
from mlgov.server.kit.ids import new_id
from mlgov.server.registry import schemas
from mlgov.server.registry.repository import RegistryRepository
from mlgov.server.registry.service import CARD_CHANGE, SOURCE, resource_name
from mlgov.server.registry.tables import ModelCard, ModelCardRevision, ModelGroup, ModelVersion

SECTIONS = (
    "model_overview",
    "intended_uses",
    "business_details",
    "training_details",
    "evaluation_details",
    "additional_information",
)
TITLES = {
    "model_overview": "Model overview",
    "intended_uses": "Intended uses",
    "business_details": "Business details",
    "training_details": "Training details",
    "evaluation_details": "Evaluation details",
    "additional_information": "Additional information",
}


def validate_content(content: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(content) - set(SECTIONS) - {"model_package_details"})
    if unknown:
        raise InvalidRequest(
            f"unknown model card sections: {', '.join(unknown)}; "
            f"sections are {', '.join(SECTIONS)}",
            code=ErrorCode.INVALID_MODEL_CARD,
        )
    for name in SECTIONS:
        value = content.get(name)
        expected = list if name == "evaluation_details" else dict
        if value is not None and not isinstance(value, expected):
            raise InvalidRequest(
                f"model card section {name} must be a JSON "
                f"{'array' if expected is list else 'object'}",
                code=ErrorCode.INVALID_MODEL_CARD,
            )
    rating = (content.get("intended_uses") or {}).get("risk_rating")
    if rating is not None and str(rating).capitalize() not in {r.value for r in schemas.RiskRating}:
        raise InvalidRequest(
            f"risk_rating {rating!r} is not one of High, Medium, Low, Unknown",
            code=ErrorCode.INVALID_MODEL_CARD,
        )
    return content


def registry_facts(group: ModelGroup, version: ModelVersion) -> dict[str, Any]:
    lineage = version.lineage or {}
    metrics = [{"name": k, "value": v} for k, v in sorted(version.metrics.items())]
    facts: dict[str, Any] = {
        "model_overview": {
            "model_id": version.id,
            "model_name": group.name,
            "model_version": version.version,
            "model_artifact": [f"sha256:{version.artifact_sha256}"],
            "algorithm_type": version.flavor,
        },
        "training_details": {
            "training_job_details": {
                "training_arn": lineage.get("training_job") or lineage.get("pipeline_execution"),
                "training_datasets": [d["uri"] for d in lineage.get("datasets", [])],
                "training_metrics": metrics,
            }
        },
    }
    if metrics:
        facts["evaluation_details"] = [
            {
                "name": "registry metrics",
                "metric_groups": [
                    {
                        "name": "metrics",
                        "metric_data": [
                            {"name": m["name"], "type": "number", "value": m["value"]}
                            for m in metrics
                        ],
                    }
                ],
            }
        ]
    return facts


def _fill(content: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    """Author's values win; registry facts fill what is missing, recursively for objects."""
    merged = dict(content)
    for key, value in facts.items():
        if key not in merged or merged[key] in (None, "", [], {}):
            merged[key] = value
        elif isinstance(merged[key], dict) and isinstance(value, dict):
            merged[key] = _fill(merged[key], value)
    return merged


def get_card(session: Session, version: ModelVersion) -> ModelCard:
    card = RegistryRepository(session).card(version.id)
    if card is None:
        raise NotFound(
            f"version {version.version} has no model card", code=ErrorCode.MODEL_CARD_NOT_FOUND
        )
    return card


def current_revision(session: Session, card: ModelCard) -> ModelCardRevision:
    revision = RegistryRepository(session).card_revision(card.id, card.current_revision)
    assert revision is not None
    return revision


def revisions(session: Session, card: ModelCard) -> Sequence[ModelCardRevision]:
    return RegistryRepository(session).card_revisions(card.id)


def _new_revision(
    session: Session,
    card: ModelCard,
    caller: Caller,
    content: dict[str, Any],
    status: str,
    risk_rating: str,
) -> ModelCardRevision:
    card.current_revision += 1
    card.status, card.risk_rating, card.updated_at = status, risk_rating, utc_now()
    revision = ModelCardRevision(
        card_id=card.id,
        revision=card.current_revision,
        status=status,
        risk_rating=risk_rating,
        content=content,
        created_by=caller.principal_id,
        created_at=card.updated_at,
    )
    session.add(revision)
    session.flush()
    return revision


def write_card(
    session: Session,
    group: ModelGroup,
    version: ModelVersion,
    caller: Caller,
    content: dict[str, Any],
    risk_rating: schemas.RiskRating | None,
    status: schemas.CardStatus | None = None,
) -> ModelCardRevision:
    """Create the card or add a content revision; an edited Approved card goes back to Draft."""
    content = _fill(validate_content(content), registry_facts(group, version))
    stated = (content.get("intended_uses") or {}).get("risk_rating")
    rating = (risk_rating.value if risk_rating else None) or (
        str(stated).capitalize() if stated else None
    )
    repo = RegistryRepository(session)
    card = repo.card(version.id)
    if card is None:
        card = ModelCard(
            id=new_id("mc"),
            version_id=version.id,
            account_id=version.account_id,
            status=schemas.CardStatus.DRAFT.value,
            risk_rating=rating or schemas.RiskRating.UNKNOWN.value,
            current_revision=0,
        )
        repo.add(card)
    elif card.status == schemas.CardStatus.ARCHIVED.value:
        raise Conflict(
            "the model card is Archived and cannot change", code=ErrorCode.MODEL_CARD_ARCHIVED
        )
    new_status = (status.value if status else None) or (
        schemas.CardStatus.DRAFT.value
        if card.status == schemas.CardStatus.APPROVED.value
        else card.status
    )
    revision = _new_revision(session, card, caller, content, new_status, rating or card.risk_rating)
    _card_event(session, group, version, card, caller)
    return revision


def change_status(
    session: Session,
    group: ModelGroup,
    version: ModelVersion,
    caller: Caller,
    status: schemas.CardStatus,
) -> ModelCardRevision:
    card = get_card(session, version)
    if card.status == schemas.CardStatus.ARCHIVED.value:
        raise Conflict(
            "the model card is Archived and cannot change", code=ErrorCode.MODEL_CARD_ARCHIVED
        )
    if card.status == status.value:
        raise Conflict(f"the model card is already {status.value}", code=ErrorCode.CONFLICT)
    content = current_revision(session, card).content
    revision = _new_revision(session, card, caller, content, status.value, card.risk_rating)
    _card_event(session, group, version, card, caller)
    return revision


def import_sagemaker(
    session: Session,
    group: ModelGroup,
    version: ModelVersion,
    caller: Caller,
    document: dict[str, Any],
) -> ModelCardRevision:
    """Accept a DescribeModelCard answer (``Content`` as a JSON string) or bare card content."""
    content: Any = document.get("Content", document)
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except ValueError as exc:
            raise InvalidRequest(
                f"Content is not JSON: {exc}", code=ErrorCode.INVALID_MODEL_CARD
            ) from exc
    if not isinstance(content, dict):
        raise InvalidRequest(
            "the card content must be a JSON object", code=ErrorCode.INVALID_MODEL_CARD
        )
    content = {k: v for k, v in content.items() if k != "model_package_details"}
    status = document.get("ModelCardStatus")
    known = {s.value for s in schemas.CardStatus}
    if status is not None and status not in known:
        raise InvalidRequest(
            f"ModelCardStatus {status!r} is not one of {', '.join(sorted(known))}",
            code=ErrorCode.INVALID_MODEL_CARD,
        )
    return write_card(
        session,
        group,
        version,
        caller,
        content,
        None,
        schemas.CardStatus(status) if status else None,
    )


def _card_event(
    session: Session, group: ModelGroup, version: ModelVersion, card: ModelCard, caller: Caller
) -> None:
    outbox.emit(
        session,
        account_id=group.account_id,
        source=SOURCE,
        detail_type=CARD_CHANGE,
        resources=[resource_name(group.account_id, group.name, version.version)],
        detail={
            "ModelCardId": card.id,
            "ModelCardVersion": card.current_revision,
            "ModelCardStatus": card.status,
            "RiskRating": card.risk_rating,
            "ModelPackageGroupName": group.name,
            "ModelPackageVersion": version.version,
            "LastModifiedBy": caller.principal_name,
        },
    )


# --- export ----------------------------------------------------------------------------------


def export_document(
    group: ModelGroup, version: ModelVersion, card: ModelCard, revision: ModelCardRevision
) -> dict[str, Any]:
    return {
        "ModelCardName": f"{group.name}-{version.version}",
        "ModelCardVersion": revision.revision,
        "ModelCardStatus": revision.status,
        "Content": {
            **revision.content,
            "intended_uses": {
                **(revision.content.get("intended_uses") or {}),
                "risk_rating": revision.risk_rating,
            },
            "model_package_details": {
                "model_package_group_name": group.name,
                "model_package_version": version.version,
                "model_approval_status": version.approval_status,
                "model_package_arn": resource_name(group.account_id, group.name, version.version),
                "created_by": {"user_profile_name": version.created_by},
            },
        },
    }


def _lines(value: Any, depth: int = 0) -> list[str]:
    pad = "  " * depth
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            if isinstance(item, dict | list):
                out += [f"{pad}- **{key}**:", *_lines(item, depth + 1)]
            else:
                out.append(f"{pad}- **{key}**: {item}")
        return out
    if isinstance(value, list):
        out = []
        for item in value:
            out += _lines(item, depth) if isinstance(item, dict | list) else [f"{pad}- {item}"]
        return out
    return [f"{pad}{value}"]


def to_markdown(document: dict[str, Any]) -> str:
    content = document["Content"]
    lines = [
        f"# Model card: {document['ModelCardName']}",
        "",
        f"Status: **{document['ModelCardStatus']}** · revision {document['ModelCardVersion']} · "
        f"risk rating **{content['intended_uses'].get('risk_rating')}**",
    ]
    for section in (*SECTIONS, "model_package_details"):
        if content.get(section):
            lines += [
                "",
                f"## {TITLES.get(section, 'Model package details')}",
                "",
                *_lines(content[section]),
            ]
    return "\n".join(lines) + "\n"


def _html(value: Any) -> str:
    if isinstance(value, dict):
        rows = "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{_html(v)}</td></tr>" for k, v in value.items()
        )
        return f"<table>{rows}</table>"
    if isinstance(value, list):
        return "<ul>" + "".join(f"<li>{_html(v)}</li>" for v in value) + "</ul>"
    return html.escape(str(value))


def to_html(document: dict[str, Any]) -> str:
    content = document["Content"]
    name = html.escape(document["ModelCardName"])
    body = "".join(
        f"<section><h2>{html.escape(TITLES.get(s, 'Model package details'))}</h2>"
        f"{_html(content[s])}</section>"
        for s in (*SECTIONS, "model_package_details")
        if content.get(s)
    )
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>Model card: {name}</title>'
        f"</head><body><h1>Model card: {name}</h1>"
        f"<p>Status: {html.escape(document['ModelCardStatus'])}"
        f" · revision {document['ModelCardVersion']}</p>{body}</body></html>\n"
    )
