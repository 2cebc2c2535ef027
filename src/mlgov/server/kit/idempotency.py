"""``Idempotency-Key`` on mutating POSTs: the first answer is stored and replayed.

A key names one request: its method, path, query and body. A buffered body is fingerprinted
before the endpoint runs. A streamed body (an artifact or dataset upload) is not in memory, so
its SHA-256 is taken chunk by chunk as the endpoint reads it and the fingerprint is completed once
the stream has ended: a first use stores it with the answer; a second use reads (and discards) the
body without running the endpoint, then replays the stored answer if the bytes are the same and
refuses with ``409 IDEMPOTENCY_KEY_REUSED`` if they differ.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from fastapi import Request
from sqlalchemy import select

from mlgov.errors import Conflict, ErrorCode, InvalidRequest
from mlgov.server.db.base import utc_now
from mlgov.server.kit.context import RequestContext
from mlgov.server.kit.redaction import canonical_json, redact
from mlgov.server.kit.routing import Replay, request_hash, request_hasher
from mlgov.server.kit.tables import IdempotencyKey

if TYPE_CHECKING:
    from starlette.types import Message

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255


class BodyFingerprint:
    """The request fingerprint of a streamed body, hashed as the endpoint reads it."""

    def __init__(self, request: Request) -> None:
        self._digest = request_hasher(request)
        self._receive = request.receive
        self.complete = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self._digest.update(message.get("body", b""))
            self.complete = not message.get("more_body", False)
        return message

    async def hexdigest(self) -> str:
        """The fingerprint of the whole body, reading (and dropping) whatever is still unread."""
        while not self.complete:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise InvalidRequest("the client went away before the request body ended")
        return self._digest.hexdigest()


def watch_stream(request: Request) -> Request:
    """For a route that streams its body: fingerprint the body as it is read, if a key asks."""
    if request.method != "POST" or HEADER not in request.headers:
        return request
    fingerprint = BodyFingerprint(request)
    watched = Request(request.scope, fingerprint.receive)
    watched.state.body_fingerprint = fingerprint
    return watched


def _fingerprint_of(request: Request) -> BodyFingerprint | None:
    found: BodyFingerprint | None = getattr(request.state, "body_fingerprint", None)
    return found


class StreamedReplay(Replay):
    """A key seen before on a streamed route: replay only if the streamed body is the same."""

    def __init__(self, stored: IdempotencyKey, fingerprint: BodyFingerprint) -> None:
        super().__init__(stored.status_code, stored.response_body)
        self.stored_hash = stored.request_hash
        self.first_used_at = stored.created_at.isoformat()
        self.fingerprint = fingerprint

    async def confirm(self) -> None:
        if await self.fingerprint.hexdigest() != self.stored_hash:
            raise _reused(self.first_used_at)


def check(ctx: RequestContext, request: Request) -> None:
    """Replay a stored answer, refuse a reused key, or note the key for after the commit."""
    key = request.headers.get(HEADER)
    if key is None or request.method != "POST" or ctx.caller is None:
        return
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidRequest(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
    streamed = _fingerprint_of(request)
    stored = ctx.session.execute(
        select(IdempotencyKey).where(
            IdempotencyKey.principal_id == ctx.caller.principal_id, IdempotencyKey.key == key
        )
    ).scalar_one_or_none()
    if streamed is not None:
        if stored is None:
            # Completed by settle() once the endpoint has read the stream.
            ctx.idempotency_key, ctx.request_hash = key, None
            return
        raise StreamedReplay(stored, streamed)
    fingerprint = request_hash(request, request._body if hasattr(request, "_body") else b"")
    if stored is None:
        ctx.idempotency_key, ctx.request_hash = key, fingerprint
        return
    if stored.request_hash != fingerprint:
        raise _reused(stored.created_at.isoformat())
    raise Replay(stored.status_code, stored.response_body)


async def settle(ctx: RequestContext, request: Request) -> None:
    """After a streamed endpoint succeeded: complete the fingerprint stored with the key."""
    streamed = _fingerprint_of(request)
    if streamed is not None and ctx.idempotency_key and ctx.request_hash is None:
        ctx.request_hash = await streamed.hexdigest()


def _reused(first_used_at: str) -> Conflict:
    return Conflict(
        "this Idempotency-Key was already used for a different request",
        code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
        details={"first_used_at": first_used_at},
    )


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
