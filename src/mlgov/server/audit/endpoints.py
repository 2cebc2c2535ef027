"""Audit trail routes: list, SQL query, verify, digests."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import AwareDatetime

from mlgov.errors import ErrorCode, InvalidRequest
from mlgov.server.audit import schemas, service
from mlgov.server.audit.signing import load_or_create_signer, public_key_pem
from mlgov.server.identity import service as identity
from mlgov.server.identity.auth import api_router
from mlgov.server.kit.context import RequestContext, Scope, context_of
from mlgov.server.kit.pagination import PageRequest, encode_token, page_request
from mlgov.server.kit.runtime import Runtime

router = api_router(tags=["audit"])
Ref = Annotated[str | None, Query(max_length=160)]


def _visible(ctx: RequestContext) -> list[str] | None:
    assert ctx.caller is not None
    return identity.visibility(ctx.session, ctx.caller, ctx.action.name).account_ids_in(ctx.session)


def _sequence_cursor(page: PageRequest) -> int | None:
    if page.after is None:
        return None
    if not page.after.isdigit():
        raise InvalidRequest("bad next_page_token", code=ErrorCode.INVALID_PAGINATION_TOKEN)
    return int(page.after)


@router.read(
    "/audit/records", action="audit:ListRecords", scope=Scope.ANY, response_model_exclude_none=False
)
def list_records(
    request: Request,
    page: Annotated[PageRequest, Depends(page_request)],
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    account: Ref = None,
    principal: Ref = None,
    action: Ref = None,
    outcome: schemas.Outcome | None = None,
) -> schemas.AuditEventPage:
    ctx = context_of(request)
    account_id = identity.get_account(ctx.session, account).id if account else None
    filters = service.RecordFilter(
        since, until, account_id, principal, action, outcome.value if outcome else None
    )
    rows = service.list_records(
        ctx.session, filters, _visible(ctx), page.page_size, _sequence_cursor(page)
    )
    more = len(rows) > page.page_size
    rows = rows[: page.page_size]
    return schemas.AuditEventPage(
        items=[service.to_event(row) for row in rows],
        next_page_token=encode_token(str(rows[-1].sequence)) if more and rows else None,
    )


@router.post("/audit/query", action="audit:QueryRecords", scope=Scope.ANY, long_running=True)
def query_records(request: Request, body: schemas.QueryRequest) -> schemas.QueryResponse:
    ctx = context_of(request)
    result = service.query_records(
        ctx.session,
        body.sql,
        service.RecordFilter(since=body.since, until=body.until),
        _visible(ctx),
        body.max_rows,
    )
    return schemas.QueryResponse(
        columns=result.columns, rows=result.rows, truncated=result.truncated
    )


@router.post(
    "/audit/verify", action="audit:VerifyTrail", scope=Scope.ORGANIZATION, long_running=True
)
def verify_trail(request: Request, body: schemas.VerifyRequest) -> schemas.VerifyResponse:
    ctx = context_of(request)
    runtime: Runtime = request.app.state.runtime
    signer = load_or_create_signer(runtime.settings.audit_signing_key_path)
    anchor_file = service.anchor_path(runtime.settings)
    anchor = json.loads(anchor_file.read_text()) if anchor_file.exists() else None
    report = service.verify(
        ctx.session, signer.public_key, since=body.since, until=body.until, anchor=anchor
    )
    problems = [schemas.Problem(**p.as_dict()) for p in report.problems]
    return schemas.VerifyResponse(
        valid=report.valid,
        records_checked=report.records_checked,
        digests_checked=report.digests_checked,
        first_sequence=report.first_sequence,
        last_sequence=report.last_sequence,
        unsealed_records=report.unsealed_records,
        first_problem=problems[0] if problems else None,
        problems=problems[:1000],
    )


@router.read("/audit/digests", action="audit:ListDigests", scope=Scope.ORGANIZATION)
def list_digests(
    request: Request, page: Annotated[PageRequest, Depends(page_request)]
) -> schemas.DigestPage:
    ctx = context_of(request)
    rows = service.list_digests(ctx.session, page.page_size, _sequence_cursor(page))
    more = len(rows) > page.page_size
    rows = rows[: page.page_size]
    return schemas.DigestPage(
        items=[schemas.Digest.model_validate(row) for row in rows],
        next_page_token=encode_token(str(rows[-1].id)) if more and rows else None,
    )


@router.post("/audit/digests/seal", action="audit:SealDigests", scope=Scope.ORGANIZATION)
def seal_digests(request: Request) -> schemas.DigestPage:
    ctx = context_of(request)
    runtime: Runtime = request.app.state.runtime
    signer = load_or_create_signer(runtime.settings.audit_signing_key_path)
    sealed = service.seal(ctx.session, signer, runtime.settings.audit.digest_period_seconds)
    if sealed:
        newest = sealed[-1]
        ctx.after_commit.append(
            lambda: service.write_anchor(service.anchor_path(runtime.settings), newest)
        )
    return schemas.DigestPage(items=[schemas.Digest.model_validate(d) for d in sealed])


@router.read("/audit/public-key", action="audit:GetPublicKey", scope=Scope.AUTHENTICATED)
def get_public_key(request: Request) -> schemas.PublicKey:
    runtime: Runtime = request.app.state.runtime
    signer = load_or_create_signer(runtime.settings.audit_signing_key_path)
    return schemas.PublicKey(fingerprint=signer.fingerprint, pem=public_key_pem(signer.public_key))
