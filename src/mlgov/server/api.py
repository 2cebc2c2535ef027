"""Serves every domain's routes under /api/v1, each behind the one authorization dependency."""

from __future__ import annotations

from fastapi import FastAPI

from mlgov.server.alarms.endpoints import router as alarms_router
from mlgov.server.audit.endpoints import router as audit_router
from mlgov.server.batch.endpoints import router as batch_router
from mlgov.server.dashboard.endpoints import router as dashboard_router
from mlgov.server.events.endpoints import router as events_router
from mlgov.server.identity.auth import authorize
from mlgov.server.identity.endpoints import router as identity_router
from mlgov.server.kit.routing import API_PREFIX, AuditedRoute, RouteIndex
from mlgov.server.metrics.endpoints import router as metrics_router
from mlgov.server.monitoring.endpoints import router as monitoring_router
from mlgov.server.registry.endpoints import router as registry_router
from mlgov.server.serving.endpoints import router as serving_router
from mlgov.server.training.endpoints import router as training_router

__all__ = ["API_PREFIX", "api_routes", "install_api"]
# The app tries its routes in order, each rejecting a foreign path by its regular expression (half
# a microsecond on a slow machine): the routers that take the most calls (scoring, metric ingest,
# events, registry reads) go first, the administrative ones last. Their paths never overlap, so
# order is free.
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


def api_routes() -> list[AuditedRoute]:
    """Every API route, declared with its full path; tests derive their route matrices from this.

    Refuses a route that is not behind :func:`authorize` or not under the API's prefix: every
    domain router must come from :func:`~mlgov.server.identity.auth.api_router`.
    """
    routes: list[AuditedRoute] = []
    for route in (route for router in DOMAIN_ROUTERS for route in router.routes):
        if not isinstance(route, AuditedRoute) or not route.path.startswith(f"{API_PREFIX}/"):
            raise TypeError(f"{route} is not an API route under {API_PREFIX}")
        if not any(depends.dependency is authorize for depends in route.dependencies):
            raise TypeError(f"API route {route.path} is not behind the authorization dependency")
        routes.append(route)
    return routes


def install_api(app: FastAPI) -> None:
    """The API's routes straight into the app's route table (see ``identity.auth.api_router``),
    with their index in front (:class:`~mlgov.server.kit.routing.RouteIndex`)."""
    routes = api_routes()
    app.router.routes.extend(routes)
    app.router.routes.insert(0, RouteIndex(routes))
