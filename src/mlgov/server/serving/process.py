"""One endpoint in a process of its own (``mlgov endpoints serve``), for horizontal scale.

Replicas share the database and the blob store with the main server, so an update of the endpoint
reaches them on the next call (each call reads the endpoint's variants). The SageMaker container
contract is served too: ``POST /invocations`` is the endpoint's invocation route (same
authentication and audit) and ``GET /ping`` answers once the models are loaded.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from mlgov.server.db.engine import unit_of_work
from mlgov.server.identity import service as identity
from mlgov.server.kit.runtime import Runtime
from mlgov.server.serving import service


def warm_endpoint(runtime: Runtime, account: str, name: str) -> None:
    """Load the endpoint's models; raises NotFound when the account or endpoint is missing."""
    with unit_of_work(runtime.session_factory) as session:
        account_id = identity.get_account(session, account).id
        variants = list(service.get_endpoint(session, account_id, name).variants)
    service.warm(runtime.models, variants)


class SingleEndpointMiddleware:
    def __init__(self, app: ASGIApp, invocations_path: str) -> None:
        self.app = app
        self.invocations_path = invocations_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/ping":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["type"] == "http" and scope["path"] == "/invocations":
            path = self.invocations_path
            scope = {**scope, "path": path, "raw_path": path.encode()}
        await self.app(scope, receive, send)
