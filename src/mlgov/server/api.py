"""Mounts every domain router under /api/v1, each behind the one authorization dependency."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from mlgov.server.alarms.endpoints import router as alarms_router
from mlgov.server.audit.endpoints import router as audit_router
from mlgov.server.batch.endpoints import router as batch_router
from mlgov.server.dashboard.endpoints import router as dashboard_router
from mlgov.server.events.endpoints import router as events_router
from mlgov.server.identity.auth import authorize
from mlgov.server.identity.endpoints import router as identity_router
from mlgov.server.kit.routing import AuditedRoute
from mlgov.server.metrics.endpoints import router as metrics_router
from mlgov.server.monitoring.endpoints import router as monitoring_router
from mlgov.server.registry.endpoints import router as registry_router
from mlgov.server.serving.endpoints import router as serving_router
from mlgov.server.training.endpoints import router as training_router

API_PREFIX = "/api/v1"
# FastAPI tries routes in order, at about a microsecond each, and a call is matched more than once
# on its way in: the routers that take the most calls (scoring, metric ingest, events, registry
# reads) go first, the administrative ones last. Their paths never overlap, so order is free.
DOMAIN_ROUTERS = (
    serving_router,
    metrics_router,
    events_router,
    registry_router,
    monitoring_router,
    alarms_router,
    batch_router,
    training_router,
    dashboard_router,
    identity_router,
    audit_router,
)


def build_api_router() -> APIRouter:
    api = APIRouter(prefix=API_PREFIX, dependencies=[Depends(authorize)])
    for router in DOMAIN_ROUTERS:
        api.include_router(router)
    return api


def api_routes() -> list[tuple[str, AuditedRoute]]:
    """Every API route with its full path; tests derive their route matrices from this."""
    return [
        (f"{API_PREFIX}{route.path}", route)
        for router in DOMAIN_ROUTERS
        for route in router.routes
        if isinstance(route, AuditedRoute)
    ]
