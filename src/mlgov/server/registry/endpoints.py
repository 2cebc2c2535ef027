"""Model registry routes: thin, each naming its action; all live inside one account."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, StreamingResponse

from mlgov.errors import ErrorCode, InvalidRequest
from mlgov.server.db.driver import Record
from mlgov.server.identity import service as identity
from mlgov.server.identity.auth import api_router
from mlgov.server.kit.context import RequestContext, context_of
from mlgov.server.kit.pagination import Page, PageRequest, next_token, page_request
from mlgov.server.kit.runtime import Runtime
from mlgov.server.registry import cards, schemas, service
from mlgov.server.registry.tables import ModelCardRevision, ModelGroup, ModelVersion

router = api_router(tags=["registry"])
PageParams = Annotated[PageRequest, Depends(page_request)]
GROUP = "/accounts/{account}/model-groups/{group}"
VERSION = GROUP + "/versions/{version}"
SHARED_READ = "model-group:read"


def _ctx(request: Request) -> RequestContext:
    ctx = context_of(request)
    assert ctx.caller is not None
    assert ctx.account_id is not None
    return ctx


def _group(request: Request, group: str) -> ModelGroup:
    ctx = _ctx(request)
    return service.get_group(ctx.session, ctx.account_id or "", group)


def _version(request: Request, group: str, version: int) -> tuple[ModelGroup, ModelVersion]:
    found = _group(request, group)
    return found, service.get_version(_ctx(request).session, found, version)


def _columns(version: ModelVersion | Record) -> dict[str, Any]:
    """A version's columns by attribute name; a plain row (a driver statement's named tuple)
    hands them over at once."""
    if not isinstance(version, ModelVersion):
        return dict(zip(version._fields, version, strict=True))
    return {prop.key: getattr(version, prop.key) for prop in ModelVersion.__mapper__.column_attrs}


def _view_out(view: service.VersionView) -> schemas.ModelVersion:
    columns = _columns(view.version)
    columns.update(
        group=view.group_name,
        aliases=view.aliases,
        artifact={"sha256": columns["artifact_sha256"], "size": columns["artifact_size"]},
    )
    # Columns the answer does not show (group_id, the artifact's) are ignored by the model.
    return schemas.ModelVersion.model_validate(columns)


def _versions_out(
    request: Request, rows: Sequence[ModelVersion | Record]
) -> list[schemas.ModelVersion]:
    return [_view_out(view) for view in service.describe(_ctx(request).session, rows)]


def _version_out(
    request: Request, row: ModelVersion | Record, group_name: str, *, created: bool = False
) -> schemas.ModelVersion:
    view = service.describe_one(_ctx(request).session, row, group_name, created=created)
    return _view_out(view)


# --- artifacts ---


@router.create(
    "/accounts/{account}/artifacts",
    action="registry:UploadArtifact",
    stream_body=True,
    openapi_extra={"requestBody": {"content": {"application/octet-stream": {}}}},
)
async def upload_artifact(request: Request) -> schemas.Artifact:
    """Stream the request body into the blob store; memory holds one chunk at a time."""
    ctx = _ctx(request)
    runtime: Runtime = request.app.state.runtime
    limit = runtime.settings.server.max_artifact_bytes
    writer = await run_in_threadpool(runtime.blobs.writer)
    try:
        async for chunk in request.stream():
            if writer.size + len(chunk) > limit:
                raise InvalidRequest(
                    f"artifact exceeds {limit} bytes", code=ErrorCode.REQUEST_TOO_LARGE
                )
            writer.write(chunk)
        ref = await run_in_threadpool(writer.finish)
    except BaseException:
        await run_in_threadpool(writer.abort)
        raise
    if ref.size == 0:
        raise InvalidRequest("the artifact is empty")
    assert ctx.caller is not None
    assert ctx.account_id is not None
    await run_in_threadpool(service._own_artifact, ctx.session, ctx.account_id, ref, ctx.caller)
    return schemas.Artifact(sha256=ref.sha256, size=ref.size)


# --- groups ---


@router.create("/accounts/{account}/model-groups", action="registry:CreateModelGroup")
def create_group(request: Request, body: schemas.ModelGroupCreate) -> schemas.ModelGroup:
    ctx = _ctx(request)
    assert ctx.caller is not None
    group = service.create_group(ctx.session, ctx.account_id or "", ctx.caller, body)
    return schemas.ModelGroup.model_validate(group)


@router.read("/accounts/{account}/model-groups", action="registry:ListModelGroups")
def list_groups(request: Request, page: PageParams) -> Page[schemas.ModelGroup]:
    ctx = _ctx(request)
    rows = service.list_groups(ctx.session, ctx.account_id or "", page)
    return Page[schemas.ModelGroup](
        items=[schemas.ModelGroup.model_validate(r) for r in rows[: page.page_size]],
        next_page_token=next_token(rows, page),
    )


@router.read(GROUP, action="registry:DescribeModelGroup", shared_by=SHARED_READ)
def describe_group(request: Request, group: str) -> schemas.ModelGroup:
    return schemas.ModelGroup.model_validate(_group(request, group))


@router.patch(GROUP, action="registry:UpdateModelGroup")
def update_group(
    request: Request, group: str, body: schemas.ModelGroupUpdate
) -> schemas.ModelGroup:
    found = _group(request, group)
    return schemas.ModelGroup.model_validate(
        service.update_group(_ctx(request).session, found, body)
    )


@router.read("/accounts/{account}/shared-model-groups", action="registry:ListSharedModelGroups")
def list_shared_groups(request: Request) -> list[schemas.SharedGroup]:
    ctx = _ctx(request)
    return [
        schemas.SharedGroup(
            group=schemas.ModelGroup.model_validate(group),
            permissions=[schemas.GrantPermission(p) for p in permissions],
        )
        for group, permissions in service.shared_with(ctx.session, ctx.account_id or "")
    ]


# --- versions ---


@router.create(GROUP + "/versions", action="registry:CreateModelVersion")
def create_version(
    request: Request, group: str, body: schemas.ModelVersionCreate
) -> schemas.ModelVersion:
    ctx = _ctx(request)
    assert ctx.caller is not None
    row = service.create_version(ctx.session, ctx.account_id or "", group, ctx.caller, body)
    return _version_out(request, row, group, created=True)


@router.read(GROUP + "/versions", action="registry:ListModelVersions", shared_by=SHARED_READ)
def list_versions(request: Request, group: str, page: PageParams) -> Page[schemas.ModelVersion]:
    ctx = _ctx(request)
    rows = service.search_versions(
        ctx.session, ctx.account_id or "", schemas.VersionSearch(group=group), page
    )
    return Page[schemas.ModelVersion](
        items=_versions_out(request, rows[: page.page_size]), next_page_token=next_token(rows, page)
    )


@router.read("/accounts/{account}/model-versions", action="registry:SearchModelVersions")
def search_versions(
    request: Request,
    page: PageParams,
    search: Annotated[schemas.VersionSearch, Query()],
) -> Page[schemas.ModelVersion]:
    """Versions of every group in the account, filtered; ``tag`` is ``key`` or ``key=value``."""
    ctx = _ctx(request)
    rows = service.search_versions(ctx.session, ctx.account_id or "", search, page)
    return Page[schemas.ModelVersion](
        items=_versions_out(request, rows[: page.page_size]), next_page_token=next_token(rows, page)
    )


@router.read(VERSION, action="registry:DescribeModelVersion", shared_by=SHARED_READ)
def describe_version(request: Request, group: str, version: int) -> schemas.ModelVersion:
    ctx = _ctx(request)
    return _view_out(service.describe_version(ctx.session, ctx.account_id or "", group, version))


@router.patch(VERSION, action="registry:UpdateModelVersion")
def update_version(
    request: Request, group: str, version: int, body: schemas.ModelVersionUpdate
) -> schemas.ModelVersion:
    found, row = _version(request, group, version)
    updated = service.update_version(_ctx(request).session, row, body)
    return _version_out(request, updated, found.name)


@router.read(VERSION + "/artifact", action="registry:DownloadModelArtifact", shared_by=SHARED_READ)
def download_artifact(request: Request, group: str, version: int) -> StreamingResponse:
    """Stream the artifact; the stream aborts if the stored bytes no longer match their hash."""
    _, row = _version(request, group, version)
    runtime: Runtime = request.app.state.runtime
    runtime.blobs.require(row.artifact_sha256)
    return StreamingResponse(
        runtime.blobs.open_verified(row.artifact_sha256),
        media_type="application/octet-stream",
        headers={"content-length": str(row.artifact_size), "x-mlgov-sha256": row.artifact_sha256},
    )


# --- approvals ---


def _decide(
    request: Request,
    group: str,
    version: int,
    status: schemas.ApprovalStatus,
    body: schemas.Decision,
) -> schemas.ApprovalRecord:
    ctx = _ctx(request)
    found, row = _version(request, group, version)
    assert ctx.caller is not None
    decision = service.decide(ctx.session, found, row, ctx.caller, status, body)
    return schemas.ApprovalRecord.model_validate(decision)


@router.post(VERSION + "/approve", action="registry:ApproveModelVersion")
def approve_version(
    request: Request, group: str, version: int, body: schemas.Decision
) -> schemas.ApprovalRecord:
    return _decide(request, group, version, schemas.ApprovalStatus.APPROVED, body)


@router.post(VERSION + "/reject", action="registry:RejectModelVersion")
def reject_version(
    request: Request, group: str, version: int, body: schemas.Decision
) -> schemas.ApprovalRecord:
    return _decide(request, group, version, schemas.ApprovalStatus.REJECTED, body)


@router.read(VERSION + "/approvals", action="registry:ListApprovalDecisions", shared_by=SHARED_READ)
def list_decisions(request: Request, group: str, version: int) -> list[schemas.ApprovalRecord]:
    _, row = _version(request, group, version)
    return [
        schemas.ApprovalRecord.model_validate(d)
        for d in service.decisions(_ctx(request).session, row)
    ]


# --- aliases ---


@router.put(GROUP + "/aliases/{alias}", action="registry:UpdateModelAlias")
def set_alias(request: Request, group: str, alias: str, body: schemas.AliasSet) -> schemas.Alias:
    ctx = _ctx(request)
    _check_alias(alias)
    assert ctx.caller is not None
    row, number = service.set_alias(
        ctx.session, _group(request, group), alias, body.version, ctx.caller
    )
    return schemas.Alias(
        name=row.name,
        version=number,
        version_id=row.version_id,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


@router.delete(GROUP + "/aliases/{alias}", action="registry:DeleteModelAlias")
def delete_alias(request: Request, group: str, alias: str) -> Response:
    ctx = _ctx(request)
    assert ctx.caller is not None
    service.delete_alias(ctx.session, _group(request, group), alias, ctx.caller)
    return Response(status_code=204)


@router.read(GROUP + "/aliases", action="registry:ListModelAliases", shared_by=SHARED_READ)
def list_aliases(request: Request, group: str) -> list[schemas.Alias]:
    return [
        schemas.Alias(
            name=row.name,
            version=number,
            version_id=row.version_id,
            updated_by=row.updated_by,
            updated_at=row.updated_at,
        )
        for row, number in service.list_aliases(_ctx(request).session, _group(request, group))
    ]


def _check_alias(alias: str) -> None:
    if not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_-]{0,63}", alias):
        raise InvalidRequest(f"alias {alias!r} must match [a-zA-Z][a-zA-Z0-9_-]{{0,63}}")


# --- promotion, grants, settings ---


@router.post(VERSION + "/promote", action="registry:PromoteModelVersion", status_code=201)
def promote_version(
    request: Request, group: str, version: int, body: schemas.Promotion
) -> schemas.ModelVersion:
    ctx = _ctx(request)
    found, row = _version(request, group, version)
    assert ctx.caller is not None
    source = identity.get_account(ctx.session, ctx.account_id or "")
    promoted = service.promote(ctx.session, source, found, row, ctx.caller, body)
    return _versions_out(request, [promoted])[0]


@router.put(GROUP + "/grants/{grantee}", action="registry:PutModelGroupGrant")
def put_grant(request: Request, group: str, grantee: str, body: schemas.GrantSet) -> schemas.Grant:
    ctx = _ctx(request)
    assert ctx.caller is not None
    target = identity.get_account(ctx.session, grantee)
    permissions = service.put_grant(
        ctx.session, _group(request, group), target, [p.value for p in body.permissions], ctx.caller
    )
    return schemas.Grant(
        grantee_account_id=target.id, permissions=[schemas.GrantPermission(p) for p in permissions]
    )


@router.delete(GROUP + "/grants/{grantee}", action="registry:DeleteModelGroupGrant")
def delete_grant(request: Request, group: str, grantee: str) -> Response:
    ctx = _ctx(request)
    service.delete_grant(
        ctx.session, _group(request, group), identity.get_account(ctx.session, grantee)
    )
    return Response(status_code=204)


@router.read(GROUP + "/grants", action="registry:ListModelGroupGrants")
def list_grants(request: Request, group: str) -> list[schemas.Grant]:
    return [
        schemas.Grant(
            grantee_account_id=account_id,
            permissions=[schemas.GrantPermission(p) for p in permissions],
        )
        for account_id, permissions in service.list_grants(
            _ctx(request).session, _group(request, group)
        )
    ]


@router.read("/accounts/{account}/registry-settings", action="registry:DescribeRegistrySettings")
def describe_settings(request: Request) -> schemas.RegistrySettings:
    ctx = _ctx(request)
    row = service.settings_of(ctx.session, ctx.account_id or "")
    return schemas.RegistrySettings(
        four_eyes=row.four_eyes,
        protected_aliases=row.protected_aliases or {},
        promotion_requirements=schemas.PromotionRequirements.model_validate(
            row.promotion_requirements or {}
        ),
    )


@router.put("/accounts/{account}/registry-settings", action="registry:UpdateRegistrySettings")
def update_settings(request: Request, body: schemas.RegistrySettings) -> schemas.RegistrySettings:
    ctx = _ctx(request)
    service.put_settings(ctx.session, ctx.account_id or "", body)
    return body


# --- model cards ---


def _card_out(card_id: str, version_id: str, revision: ModelCardRevision) -> schemas.Card:
    return schemas.Card(
        id=card_id,
        version_id=version_id,
        status=schemas.CardStatus(revision.status),
        risk_rating=schemas.RiskRating(revision.risk_rating),
        revision=revision.revision,
        content=revision.content,
        created_by=revision.created_by,
        updated_at=revision.created_at,
    )


@router.put(VERSION + "/card", action="registry:UpdateModelCard")
def write_card(request: Request, group: str, version: int, body: schemas.CardWrite) -> schemas.Card:
    ctx = _ctx(request)
    found, row = _version(request, group, version)
    assert ctx.caller is not None
    revision = cards.write_card(ctx.session, found, row, ctx.caller, body.content, body.risk_rating)
    return _card_out(revision.card_id, row.id, revision)


@router.post(
    VERSION + "/card/import", action="registry:UpdateModelCard", operation_id="ImportModelCard"
)
def import_card(
    request: Request, group: str, version: int, body: schemas.CardImport
) -> schemas.Card:
    ctx = _ctx(request)
    found, row = _version(request, group, version)
    assert ctx.caller is not None
    revision = cards.import_sagemaker(ctx.session, found, row, ctx.caller, body.card)
    return _card_out(revision.card_id, row.id, revision)


@router.post(VERSION + "/card/status", action="registry:UpdateModelCardStatus")
def change_card_status(
    request: Request, group: str, version: int, body: schemas.CardStatusChange
) -> schemas.Card:
    ctx = _ctx(request)
    found, row = _version(request, group, version)
    assert ctx.caller is not None
    revision = cards.change_status(ctx.session, found, row, ctx.caller, body.status)
    return _card_out(revision.card_id, row.id, revision)


@router.read(VERSION + "/card", action="registry:DescribeModelCard", shared_by=SHARED_READ)
def describe_card(request: Request, group: str, version: int) -> schemas.Card:
    ctx = _ctx(request)
    _, row = _version(request, group, version)
    card = cards.get_card(ctx.session, row)
    return _card_out(card.id, row.id, cards.current_revision(ctx.session, card))


@router.read(
    VERSION + "/card/revisions", action="registry:ListModelCardRevisions", shared_by=SHARED_READ
)
def list_card_revisions(request: Request, group: str, version: int) -> list[schemas.CardRevision]:
    ctx = _ctx(request)
    _, row = _version(request, group, version)
    return [
        schemas.CardRevision.model_validate(r)
        for r in cards.revisions(ctx.session, cards.get_card(ctx.session, row))
    ]


@router.read(VERSION + "/card/export", action="registry:ExportModelCard", shared_by=SHARED_READ)
def export_card(
    request: Request, group: str, version: int, format: schemas.ExportFormat = "json"
) -> Any:
    ctx = _ctx(request)
    found, row = _version(request, group, version)
    card = cards.get_card(ctx.session, row)
    document = cards.export_document(found, row, card, cards.current_revision(ctx.session, card))
    if format == "markdown":
        return PlainTextResponse(cards.to_markdown(document), media_type="text/markdown")
    if format == "html":
        return HTMLResponse(cards.to_html(document))
    return JSONResponse(document)
