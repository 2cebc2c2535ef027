"""Endpoints: deploy registry versions, update them blue/green, answer and capture invocations."""

from __future__ import annotations

import base64
import os
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from mlgov.errors import Conflict, ErrorCode, InvalidRequest, NotFound, PreconditionFailed
from mlgov.formats.capture import (
    CaptureData,
    CapturedPayload,
    CaptureEncoding,
    CaptureMode,
    CaptureRecord,
    EventMetadata,
)
from mlgov.formats.ground_truth import read_ground_truth
from mlgov.server.capture.writer import CaptureWriter, Partition, hour_of
from mlgov.server.db.base import utc_now
from mlgov.server.identity.tables import Account
from mlgov.server.kit import outbox
from mlgov.server.kit.blobs import BlobStore
from mlgov.server.kit.context import Caller
from mlgov.server.kit.ids import new_id
from mlgov.server.kit.pagination import PageRequest
from mlgov.server.registry import service as registry
from mlgov.server.registry.schemas import ApprovalStatus
from mlgov.server.serving import payloads, schemas
from mlgov.server.serving.flavors import require_library
from mlgov.server.serving.models import ModelCache
from mlgov.server.serving.tables import Endpoint

SOURCE = "mlgov.serving"
ENDPOINT_CHANGE = "Endpoint State Change"
# Environments that serve only what a reviewer approved.
APPROVED_ONLY = ("prod",)


def resource_name(account_id: str, endpoint: str) -> str:
    return f"mlgov:serving:{account_id}:endpoint/{endpoint}"


# --- endpoints -----------------------------------------------------------------------------------


def get_endpoint(session: Session, account_id: str, name: str) -> Endpoint:
    row = session.execute(
        select(Endpoint).where(Endpoint.account_id == account_id, Endpoint.name == name)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"endpoint {name} does not exist", code=ErrorCode.ENDPOINT_NOT_FOUND)
    return row


def list_endpoints(session: Session, account_id: str, page: PageRequest) -> Sequence[Endpoint]:
    query = select(Endpoint).where(Endpoint.account_id == account_id).order_by(Endpoint.name)
    if page.after:
        query = query.where(Endpoint.name > page.after)
    return session.execute(query.limit(page.page_size + 1)).scalars().all()


def pin_version(session: Session, account: Account, group_name: str, number: int) -> dict[str, Any]:
    """What serving needs of a registry version, checked against what the account may serve."""
    group = registry.get_group(session, account.id, group_name)
    version = registry.get_version(session, group, number)
    if account.environment in APPROVED_ONLY and (
        version.approval_status != ApprovalStatus.APPROVED.value
    ):
        raise PreconditionFailed(
            f"account {account.name} is a {account.environment} account and serves only "
            f"Approved versions; {group_name} version {number} is {version.approval_status}",
            code=ErrorCode.DEPLOYMENT_REFUSED,
            details={"group": group_name, "version": number},
        )
    require_library(version.flavor)
    return {
        "group": group.name,
        "version": version.version,
        "version_id": version.id,
        "flavor": version.flavor,
        "artifact_sha256": version.artifact_sha256,
        "columns": [
            str(column.get("name"))
            for column in (version.signature or {}).get("inputs", [])
            if isinstance(column, dict) and column.get("name")
        ],
    }


def _resolve(
    session: Session, account: Account, specs: list[schemas.VariantSpec]
) -> list[dict[str, Any]]:
    """Pin each variant to a registry version now, checking what the account may serve."""
    return [
        {
            "name": spec.name or f"{spec.group}-{spec.version}",
            "weight": spec.weight,
            **pin_version(session, account, spec.group, spec.version),
        }
        for spec in specs
    ]


def create_endpoint(
    session: Session, account: Account, caller: Caller, data: schemas.EndpointCreate
) -> Endpoint:
    exists = session.execute(
        select(Endpoint.id).where(Endpoint.account_id == account.id, Endpoint.name == data.name)
    ).first()
    if exists:
        raise Conflict(f"endpoint {data.name} exists", code=ErrorCode.ALREADY_EXISTS)
    now = utc_now()
    endpoint = Endpoint(
        id=new_id("ep"),
        account_id=account.id,
        name=data.name,
        description=data.description,
        variants=_resolve(session, account, data.variants),
        capture=data.capture.model_dump(),
        created_by=caller.principal_id,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    session.flush()
    _event(session, endpoint, "Created", caller)
    return endpoint


def update_endpoint(
    session: Session,
    account: Account,
    endpoint: Endpoint,
    caller: Caller,
    data: schemas.EndpointUpdate,
) -> Endpoint:
    """Change variants, capture or description; serving switches to the new models atomically."""
    if data.variants is None and data.capture is None and data.description is None:
        raise InvalidRequest("nothing to change: give variants, capture or description")
    if data.variants is not None:
        endpoint.variants = _resolve(session, account, data.variants)
    if data.capture is not None:
        endpoint.capture = data.capture.model_dump()
    if data.description is not None:
        endpoint.description = data.description
    endpoint.updated_at = utc_now()
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict(
            f"endpoint {endpoint.name} changed concurrently; read it again", code=ErrorCode.CONFLICT
        ) from exc
    _event(session, endpoint, "Updated", caller)
    return endpoint


def delete_endpoint(session: Session, endpoint: Endpoint, caller: Caller) -> None:
    _event(session, endpoint, "Deleted", caller)
    session.delete(endpoint)


def _event(session: Session, endpoint: Endpoint, change: str, caller: Caller) -> None:
    outbox.emit(
        session,
        account_id=endpoint.account_id,
        source=SOURCE,
        detail_type=ENDPOINT_CHANGE,
        resources=[resource_name(endpoint.account_id, endpoint.name)],
        detail={
            "change": change,
            "EndpointName": endpoint.name,
            "Variants": [
                {k: v[k] for k in ("name", "weight", "group", "version")} for v in endpoint.variants
            ],
            "CaptureEnabled": bool(endpoint.capture.get("enabled")),
            "ChangedBy": caller.principal_name,
        },
    )


def warm(models: ModelCache, variants: list[dict[str, Any]]) -> None:
    """Load the variants' models before traffic reaches them (the green side of blue/green).

    Called before the change commits: a model that does not load fails the deployment, and the
    endpoint keeps serving what it served before.
    """
    for variant in variants:
        models.get(variant["artifact_sha256"], variant["flavor"])


# --- invocations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invocation:
    body: bytes
    content_type: str
    accept: str
    inference_id: str | None
    target_variant: str | None


@dataclass(frozen=True)
class Answer:
    body: bytes
    content_type: str
    variant: str
    event_id: str
    captured: bool
    model_seconds: float


def choose_variant(
    variants: list[dict[str, Any]], target: str | None, rand: float
) -> dict[str, Any]:
    """The named variant, else one drawn by weight (``rand`` uniform in [0, 1))."""
    if target is not None:
        for variant in variants:
            if variant["name"] == target:
                return variant
        raise InvalidRequest(
            f"the endpoint has no variant {target!r}; it has "
            f"{', '.join(v['name'] for v in variants)}",
            code=ErrorCode.INVALID_REQUEST,
        )
    total = sum(float(v["weight"]) for v in variants)
    point = rand * total
    for variant in variants:
        point -= float(variant["weight"])
        if point < 0:
            return variant
    return variants[-1]


def invoke(
    models: ModelCache,
    capture: CaptureWriter,
    account_id: str,
    endpoint_name: str,
    variants: list[dict[str, Any]],
    capture_config: dict[str, Any],
    call: Invocation,
) -> Answer:
    variant = choose_variant(variants, call.target_variant, random.random())
    rows = payloads.parse_rows(call.body, call.content_type, variant.get("columns") or ())
    model = models.get(variant["artifact_sha256"], variant["flavor"])
    started = time.perf_counter()
    predictions = model.predict(rows)
    model_seconds = time.perf_counter() - started
    body = payloads.encode_predictions(predictions, call.accept)
    event_id = str(uuid.uuid4())
    captured = bool(capture_config.get("enabled")) and (
        random.random() * 100 < float(capture_config.get("sampling_percentage", 100))
    )
    if captured:
        now = datetime.now(UTC)
        record = capture_record(call, body, event_id, now, capture_config)
        captured = capture.submit(account_id, endpoint_name, record, now)
    return Answer(body, call.accept, variant["name"], event_id, captured, model_seconds)


def _payload(data: bytes, content_type: str, mode: CaptureMode) -> CapturedPayload:
    try:
        text, encoding = (
            data.decode("utf-8"),
            (CaptureEncoding.CSV if content_type == payloads.CSV else CaptureEncoding.JSON),
        )
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(data).decode("ascii"), CaptureEncoding.BASE64
    return CapturedPayload(
        observed_content_type=content_type, mode=mode, data=text, encoding=encoding
    )


def capture_record(
    call: Invocation,
    response: bytes,
    event_id: str,
    moment: datetime,
    config: dict[str, Any],
) -> str:
    """One SageMaker Model Monitor capture line for this invocation."""
    data = CaptureData(
        endpoint_input=_payload(call.body, call.content_type, CaptureMode.INPUT)
        if config.get("capture_input", True)
        else None,
        endpoint_output=_payload(response, call.accept, CaptureMode.OUTPUT)
        if config.get("capture_output", True)
        else None,
    )
    metadata = EventMetadata(
        event_id=event_id, inference_id=call.inference_id, inference_time=moment
    )
    return CaptureRecord(capture_data=data, event_metadata=metadata).to_json_line()


# --- ground truth --------------------------------------------------------------------------------


def put_ground_truth(
    blobs: BlobStore, account_id: str, source: str, body: bytes
) -> schemas.GroundTruthAccepted:
    """Validate ground-truth JSON lines and store them, durably, under the hour they arrived.

    ``source`` names the capture partition: an endpoint's name, or a transform job's
    ``transform-job-<name>``; the labels go to ``ground-truth/<account id>/<source>/...``.
    """
    table = read_ground_truth(body)  # raises INVALID_DATA naming the first bad record
    if table.num_rows == 0:
        raise InvalidRequest("no ground-truth records in the body", code=ErrorCode.INVALID_DATA)
    partition = Partition(account_id, source, hour_of(datetime.now(UTC)))
    prefix = partition.prefix.replace("capture/", "ground-truth/", 1)
    relative = f"{prefix}/{new_id('gt')}.jsonl"
    path = f"{blobs.root}/{relative}"
    blobs.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with blobs.fs.open(f"{path}.tmp", "wb") as handle:
        handle.write(body if body.endswith(b"\n") else body + b"\n")
        handle.flush()
        if hasattr(handle, "fileno"):
            os.fsync(handle.fileno())
    blobs.fs.mv(f"{path}.tmp", path)
    return schemas.GroundTruthAccepted(records=table.num_rows, path=relative)
