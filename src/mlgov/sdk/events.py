"""The event bus: buses, PutEvents, rules, targets, dead letters, archives and replays."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from mlgov.sdk._http import Json, Transport

DEFAULT_BUS = "default"


class EventsApi:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    @staticmethod
    def _bus(account: str, bus: str) -> str:
        return f"/accounts/{account}/event-buses/{bus}"

    def _rule(self, account: str, bus: str, rule: str) -> str:
        return f"{self._bus(account, bus)}/rules/{rule}"

    # buses
    def create_bus(self, account: str, name: str, *, description: str = "") -> Json:
        result: Json = self._t.request(
            "POST",
            f"/accounts/{account}/event-buses",
            json={"name": name, "description": description},
        )
        return result

    def list_buses(self, account: str) -> Iterator[Json]:
        return self._t.paginate(f"/accounts/{account}/event-buses")

    def get_bus(self, account: str, bus: str = DEFAULT_BUS) -> Json:
        result: Json = self._t.request("GET", self._bus(account, bus))
        return result

    def delete_bus(self, account: str, bus: str) -> None:
        self._t.request("DELETE", self._bus(account, bus))

    def permit(self, account: str, grantee: str, *, bus: str = DEFAULT_BUS) -> Json:
        """Let rules of account ``grantee`` send events to this account's ``bus``."""
        result: Json = self._t.request(
            "PUT", f"{self._bus(account, bus)}/permissions/{grantee}", json={}
        )
        return result

    def revoke(self, account: str, grantee: str, *, bus: str = DEFAULT_BUS) -> None:
        self._t.request("DELETE", f"{self._bus(account, bus)}/permissions/{grantee}")

    def permissions(self, account: str, *, bus: str = DEFAULT_BUS) -> list[Json]:
        result: list[Json] = self._t.request("GET", f"{self._bus(account, bus)}/permissions")
        return result

    # events
    def put_events(self, account: str, entries: Sequence[Json]) -> Json:
        """Up to 10 entries of ``source``, ``detail_type``, ``detail`` (and ``resources``,
        ``time``, ``event_bus``); returns ``failed_entry_count`` and per-entry results."""
        result: Json = self._t.request(
            "POST", f"/accounts/{account}/events", json={"entries": list(entries)}
        )
        return result

    def put_event(
        self,
        account: str,
        source: str,
        detail_type: str,
        detail: dict[str, Any] | None = None,
        *,
        resources: Sequence[str] = (),
        time: datetime | None = None,
        bus: str | None = None,
    ) -> str:
        """Put one event; returns its id or raises InvalidRequest with the entry's error."""
        from mlgov.errors import ErrorCode, InvalidRequest

        entry: Json = {"source": source, "detail_type": detail_type, "detail": detail or {}}
        if resources:
            entry["resources"] = list(resources)
        if time is not None:
            entry["time"] = time.isoformat()
        if bus is not None:
            entry["event_bus"] = bus
        result = self.put_events(account, [entry])["entries"][0]
        if result.get("error_code"):
            raise InvalidRequest(
                f"{result['error_code']}: {result['error_message']}", code=ErrorCode.INVALID_REQUEST
            )
        return str(result["event_id"])

    def test_pattern(self, account: str, pattern: Json, event: Json) -> bool:
        result: Json = self._t.request(
            "POST",
            f"/accounts/{account}/events/test-pattern",
            json={"event_pattern": pattern, "event": event},
        )
        return bool(result["result"])

    # rules
    def put_rule(
        self,
        account: str,
        name: str,
        pattern: Json,
        *,
        bus: str = DEFAULT_BUS,
        enabled: bool = True,
        description: str = "",
    ) -> Json:
        body = {
            "event_pattern": pattern,
            "state": "ENABLED" if enabled else "DISABLED",
            "description": description,
        }
        result: Json = self._t.request("PUT", self._rule(account, bus, name), json=body)
        return result

    def list_rules(self, account: str, *, bus: str = DEFAULT_BUS) -> Iterator[Json]:
        return self._t.paginate(f"{self._bus(account, bus)}/rules")

    def get_rule(self, account: str, name: str, *, bus: str = DEFAULT_BUS) -> Json:
        result: Json = self._t.request("GET", self._rule(account, bus, name))
        return result

    def delete_rule(self, account: str, name: str, *, bus: str = DEFAULT_BUS) -> None:
        self._t.request("DELETE", self._rule(account, bus, name))

    def enable_rule(self, account: str, name: str, *, bus: str = DEFAULT_BUS) -> Json:
        result: Json = self._t.request("POST", f"{self._rule(account, bus, name)}/enable")
        return result

    def disable_rule(self, account: str, name: str, *, bus: str = DEFAULT_BUS) -> Json:
        result: Json = self._t.request("POST", f"{self._rule(account, bus, name)}/disable")
        return result

    # targets
    def put_targets(
        self, account: str, rule: str, targets: Sequence[Json], *, bus: str = DEFAULT_BUS
    ) -> list[Json]:
        """Add or replace targets by ``id``. A webhook without ``secret`` gets a generated one,
        returned here only (``secret`` in the answer)."""
        result: list[Json] = self._t.request(
            "PUT", f"{self._rule(account, bus, rule)}/targets", json={"targets": list(targets)}
        )
        return result

    def list_targets(self, account: str, rule: str, *, bus: str = DEFAULT_BUS) -> list[Json]:
        result: list[Json] = self._t.request("GET", f"{self._rule(account, bus, rule)}/targets")
        return result

    def remove_target(
        self, account: str, rule: str, target_id: str, *, bus: str = DEFAULT_BUS
    ) -> None:
        self._t.request("DELETE", f"{self._rule(account, bus, rule)}/targets/{target_id}")

    # dead letters
    def dead_letters(self, account: str, *, rule: str | None = None) -> Iterator[Json]:
        return self._t.paginate(f"/accounts/{account}/dead-letters", {"rule": rule})

    def redrive(
        self, account: str, *, ids: Sequence[str] | None = None, rule: str | None = None
    ) -> int:
        body: Json = {"ids": list(ids) if ids is not None else None, "rule": rule}
        result: Json = self._t.request(
            "POST", f"/accounts/{account}/dead-letters/redrive", json=body
        )
        return int(result["redriven"])

    # archives and replays
    def create_archive(
        self,
        account: str,
        name: str,
        *,
        bus: str = DEFAULT_BUS,
        pattern: Json | None = None,
        retention_days: int | None = None,
        description: str = "",
    ) -> Json:
        body = {
            "name": name,
            "event_bus": bus,
            "event_pattern": pattern,
            "retention_days": retention_days,
            "description": description,
        }
        result: Json = self._t.request("POST", f"/accounts/{account}/event-archives", json=body)
        return result

    def list_archives(self, account: str) -> Iterator[Json]:
        return self._t.paginate(f"/accounts/{account}/event-archives")

    def get_archive(self, account: str, name: str) -> Json:
        result: Json = self._t.request("GET", f"/accounts/{account}/event-archives/{name}")
        return result

    def delete_archive(self, account: str, name: str) -> None:
        self._t.request("DELETE", f"/accounts/{account}/event-archives/{name}")

    def start_replay(
        self,
        account: str,
        name: str,
        archive: str,
        start: datetime,
        end: datetime,
        *,
        rules: Sequence[str] | None = None,
    ) -> Json:
        body = {
            "name": name,
            "archive": archive,
            "event_start_time": start.isoformat(),
            "event_end_time": end.isoformat(),
            "rules": list(rules) if rules is not None else None,
        }
        result: Json = self._t.request("POST", f"/accounts/{account}/event-replays", json=body)
        return result

    def get_replay(self, account: str, name: str) -> Json:
        result: Json = self._t.request("GET", f"/accounts/{account}/event-replays/{name}")
        return result

    def list_replays(self, account: str) -> Iterator[Json]:
        return self._t.paginate(f"/accounts/{account}/event-replays")
