"""``mlgov.Client``: one object per server and key, with an attribute per area."""

from __future__ import annotations

from types import TracebackType

import httpx

from mlgov.sdk._http import Transport
from mlgov.sdk.alarms import AlarmsApi
from mlgov.sdk.audit import AuditApi
from mlgov.sdk.dashboard import DashboardApi
from mlgov.sdk.events import EventsApi
from mlgov.sdk.identity import IdentityApi
from mlgov.sdk.metrics import MetricsApi
from mlgov.sdk.monitoring import MonitoringApi
from mlgov.sdk.registry import RegistryApi
from mlgov.sdk.serving import ServingApi
from mlgov.sdk.training import TrainingApi


class Client:
    """Talks to an mlgov server.

    Args:
        url: the server's base URL, e.g. ``http://127.0.0.1:8640``.
        api_key: a key from ``mlgov init`` or ``mlgov keys create``.
        http_client: an ``httpx.Client`` to send through (tests pass one bound to the app
            in-process); its base URL wins over ``url``.
        timeout: seconds per request.

    Raises (from any method): subclasses of :class:`mlgov.MlgovError`, chosen by the server's
    error code (``NotFound``, ``AccessDenied``, ``InvalidRequest``, ``Conflict``, ...).
    """

    def __init__(
        self,
        url: str = "http://127.0.0.1:8640",
        api_key: str | None = None,
        *,
        http_client: httpx.Client | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._transport = Transport(url, api_key, http_client=http_client, timeout=timeout)
        self.identity = IdentityApi(self._transport)
        self.audit = AuditApi(self._transport)
        self.registry = RegistryApi(self._transport)
        self.serving = ServingApi(self._transport)
        self.dashboard = DashboardApi(self._transport)
        self.events = EventsApi(self._transport)
        self.metrics = MetricsApi(self._transport)
        self.monitoring = MonitoringApi(self._transport)
        self.alarms = AlarmsApi(self._transport)
        self.training = TrainingApi(self._transport)

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
