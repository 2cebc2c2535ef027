"""The model dashboard route: every endpoint the caller may see, across accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request

from mlgov.server.dashboard import schemas, service
from mlgov.server.identity.auth import api_router
from mlgov.server.kit.context import Scope, context_of

router = api_router(tags=["dashboard"])


@router.read("/dashboard", action="dashboard:DescribeModelDashboard", scope=Scope.ANY)
def describe_dashboard(
    request: Request,
    account: Annotated[str | None, Query(max_length=128, description="Only this account.")] = None,
) -> schemas.Dashboard:
    """Per endpoint: served versions and their approval, monitors and their last executions,
    open violations, alarm states; for every account where the key may describe endpoints."""
    ctx = context_of(request)
    assert ctx.caller is not None
    return service.build(ctx.session, ctx.caller, account)
