"""Alarms: metric and composite alarms, their state, history and actions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from mlgov.sdk._http import Json, Transport
from mlgov.sdk.metrics import wire_dimensions


def _name(name: str) -> str:
    return quote(name, safe="")


class AlarmsApi:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def _alarm(self, account: str, name: str) -> str:
        return f"/accounts/{account}/alarms/{_name(name)}"

    def put_metric_alarm(
        self,
        account: str,
        name: str,
        *,
        namespace: str,
        metric_name: str,
        threshold: float,
        comparison_operator: str,
        period: int = 60,
        evaluation_periods: int = 1,
        statistic: str | None = None,
        extended_statistic: str | None = None,
        dimensions: Mapping[str, str] | Sequence[Mapping[str, str]] | None = None,
        **config: Any,
    ) -> Json:
        """Create or replace. ``config`` takes the other fields: ``datapoints_to_alarm``,
        ``treat_missing_data``, ``unit``, ``description``, ``actions_enabled``,
        ``alarm_actions``, ``ok_actions``, ``insufficient_data_actions``.

        An action is an event rule's ARN, ``mlgov:events:<account>:rule/<bus>/<rule>`` (its
        ``arn``, see :meth:`EventsApi.get_rule <mlgov.sdk.events.EventsApi.get_rule>`): the rule's
        targets get the state change event on a transition into that state. Anything else, or a
        rule that does not exist, raises ``InvalidRequest`` (``INVALID_TARGET``); another
        account's rule without a permission on its bus, ``AccessDenied``
        (``CROSS_ACCOUNT_TARGET_DENIED``)."""
        if statistic is None and extended_statistic is None:
            statistic = "Average"
        body: dict[str, Any] = {
            "namespace": namespace,
            "metric_name": metric_name,
            "dimensions": wire_dimensions(dimensions),
            "threshold": threshold,
            "comparison_operator": comparison_operator,
            "period": period,
            "evaluation_periods": evaluation_periods,
            **config,
        }
        if statistic is not None:
            body["statistic"] = statistic
        if extended_statistic is not None:
            body["extended_statistic"] = extended_statistic
        result: Json = self._t.request("PUT", self._alarm(account, name), json=body)
        return result

    def put_composite_alarm(self, account: str, name: str, alarm_rule: str, **config: Any) -> Json:
        """``alarm_rule`` like ``ALARM(a) AND NOT OK(b)``; ``config`` as for metric alarms."""
        result: Json = self._t.request(
            "PUT",
            f"/accounts/{account}/composite-alarms/{_name(name)}",
            json={"alarm_rule": alarm_rule, **config},
        )
        return result

    def list(
        self,
        account: str,
        *,
        state: str | None = None,
        kind: str | None = None,
        name_prefix: str | None = None,
        page_size: int = 100,
    ) -> Iterator[Json]:
        params = {"state": state, "kind": kind, "name_prefix": name_prefix}
        return self._t.paginate(f"/accounts/{account}/alarms", params, page_size=page_size)

    def get(self, account: str, name: str) -> Json:
        result: Json = self._t.request("GET", self._alarm(account, name))
        return result

    def history(
        self, account: str, name: str, *, item_type: str | None = None, page_size: int = 100
    ) -> Iterator[Json]:
        """Newest first: ``StateUpdate`` and ``ConfigurationUpdate`` items."""
        return self._t.paginate(
            f"{self._alarm(account, name)}/history", {"item_type": item_type}, page_size=page_size
        )

    def set_state(
        self, account: str, name: str, state: str, reason: str, reason_data: str | None = None
    ) -> Json:
        body = {"state_value": state, "state_reason": reason, "state_reason_data": reason_data}
        result: Json = self._t.request("POST", f"{self._alarm(account, name)}/state", json=body)
        return result

    def enable_actions(self, account: str, name: str) -> Json:
        result: Json = self._t.request("POST", f"{self._alarm(account, name)}/enable-actions")
        return result

    def disable_actions(self, account: str, name: str) -> Json:
        result: Json = self._t.request("POST", f"{self._alarm(account, name)}/disable-actions")
        return result

    def delete(self, account: str, name: str) -> None:
        self._t.request("DELETE", self._alarm(account, name))
