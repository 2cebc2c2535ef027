"""``Idempotency-Key`` on mutating POSTs: the first answer is stored and replayed."""

from __future__ import annotations

import json

from fastapi import Request
from sqlalchemy import select

from mlgov.errors import Conflict, ErrorCode, InvalidRequest
from mlgov.server.db.base import utc_now
from mlgov.server.kit.context import RequestContext
from mlgov.server.kit.redaction import canonical_json, redact
from mlgov.server.kit.routing import Replay, request_hash
from mlgov.server.kit.tables import IdempotencyKey

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255


def check(ctx: RequestContext, request: Request) -> None:
    """Replay a stored answer, refuse a reused key, or note the key for after the commit."""
    key = request.headers.get(HEADER)
    if key is None or request.method != "POST" or ctx.caller is None:
        return
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidRequest(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
    fingerprint = request_hash(request, request._body if hasattr(request, "_body") else b"")
    stored = ctx.session.execute(
        select(IdempotencyKey).where(
            IdempotencyKey.principal_id == ctx.caller.principal_id, IdempotencyKey.key == key
        )
    ).scalar_one_or_none()
    if stored is None:
        ctx.idempotency_key, ctx.request_hash = key, fingerprint
        return
    if stored.request_hash != fingerprint:
        raise Conflict(
            "this Idempotency-Key was already used for a different request",
            code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
            details={"first_used_at": stored.created_at.isoformat()},
        )
    raise Replay(stored.status_code, stored.response_body)


def remember(ctx: RequestContext, request: Request, body: bytes, status_code: int) -> None:
    assert ctx.caller is not None
    assert ctx.idempotency_key
    assert ctx.request_hash
    ctx.session.add(
        IdempotencyKey(
            principal_id=ctx.caller.principal_id,
            key=ctx.idempotency_key,
            method=request.method,
            path=request.url.path,
            request_hash=ctx.request_hash,
            status_code=status_code,
            # Secrets shown once (a new key's secret) are not kept for replays.
            response_body=_redacted(body),
            created_at=utc_now(),
        )
    )


def _redacted(body: bytes) -> str:
    try:
        return canonical_json(redact(json.loads(body)))
    except ValueError:
        return body.decode(errors="replace")
