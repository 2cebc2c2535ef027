"""Drive every API route from the app's own route table, so new routes are covered unasked.

``SAMPLE_BODIES`` holds a valid body per action verb that takes one; ``World.path_for`` fills a
route's path parameters and creates whatever a destructive or state-changing call consumes.
A route this module cannot drive fails the audit, isolation and bad-input suites.
"""

from __future__ import annotations

import contextlib
import pickle
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sklearn.dummy import DummyRegressor

from mlgov import Client, Conflict
from mlgov.server.api import api_routes as all_api_routes
from mlgov.server.batch.service import run_pending
from mlgov.server.kit.routing import AuditedRoute

DATASET = b"a,b\n1,2\n3,4\n"
# A real (tiny) model, so that endpoints in the route suites deploy and answer.
ARTIFACT = pickle.dumps(DummyRegressor(constant=0.5, strategy="constant").fit([[0, 0]], [0.5]))
CARD = {"model_overview": {"model_description": "route suite"}}

SAMPLE_BODIES: dict[str, Any] = {
    "CreateOrgUnit": lambda n: {"name": f"ou-{n}"},
    "UpdateOrgUnit": lambda n: {"description": f"changed {n}"},
    "CreateAccount": lambda n: {"name": f"acct-{n}", "environment": "dev"},
    "UpdateAccount": lambda n: {"labels": {"round": str(n)}},
    "CreatePrincipal": lambda n: {"name": f"user-{n}"},
    "UpdatePrincipal": lambda n: {"description": f"changed {n}"},
    "CreateApiKey": lambda n: {"description": f"key {n}"},
    "CreateRoleBinding": lambda n: {"principal": f"bound-{n}", "role": "Viewer"},
    "QueryRecords": lambda n: {"sql": "SELECT count(*) AS n FROM audit_records"},
    "VerifyTrail": lambda n: {},
    # registry
    "UploadArtifact": lambda n: {"weights": n},  # any bytes; JSON is as good as any
    "CreateModelGroup": lambda n: {"name": f"group-{n}"},
    "UpdateModelGroup": lambda n: {"description": f"changed {n}"},
    "CreateModelVersion": lambda n: {"artifact_sha256": _sha(ARTIFACT), "flavor": "sklearn"},
    "UpdateModelVersion": lambda n: {"description": f"changed {n}"},
    "ApproveModelVersion": lambda n: {"comment": "ok"},
    "RejectModelVersion": lambda n: {"comment": "no"},
    "UpdateModelAlias": lambda n: {"version": 1},
    "PromoteModelVersion": lambda n: {"target_account": "{self}", "target_group": f"copy-{n}"},
    "PutModelGroupGrant": lambda n: {"permissions": ["read"]},
    "UpdateRegistrySettings": lambda n: {"four_eyes": False},
    "UpdateModelCard": lambda n: {"content": CARD},
    "ImportModelCard": lambda n: {"card": {"Content": '{"intended_uses": {"risk_rating": "Low"}}'}},
    "UpdateModelCardStatus": lambda n: {"status": "PendingReview"},
    # serving
    "CreateEndpoint": lambda n: {"name": f"ep-{n}", "variants": [{"group": "g", "version": 1}]},
    "UpdateEndpoint": lambda n: {"capture": {"enabled": True, "sampling_percentage": 50}},
    "InvokeEndpoint": lambda n: {"instances": [[float(n), 1.0]]},
    "CreateTransformJob": lambda n: {
        "name": f"job-{n}",
        "group": "g",
        "version": 1,
        "input": {"sha256": _sha(DATASET), "format": "csv"},
    },
    "PutGroundTruth": lambda n: {
        "groundTruthData": {"data": "1", "encoding": "CSV"},
        "eventMetadata": {"eventId": f"inference-{n}"},
        "eventVersion": "0",
    },
    "PutTransformJobGroundTruth": lambda n: {
        "groundTruthData": {"data": "1", "encoding": "CSV"},
        "eventMetadata": {"eventId": f"captured-{n}-0"},
        "eventVersion": "0",
    },
    # events
    "CreateEventBus": lambda n: {"name": f"bus-{n}"},
    "PutEventBusPermission": lambda n: {},
    "PutEvents": lambda n: {
        "entries": [{"source": "route.suite", "detail_type": "Ping", "detail": {"n": n}}]
    },
    "TestEventPattern": lambda n: {"event_pattern": {"source": ["a"]}, "event": {"source": "a"}},
    "PutRule": lambda n: {"event_pattern": {"source": ["route.suite"]}},
    "PutTargets": lambda n: {
        "targets": [{"id": "t", "type": "internal", "config": {"handler": "log"}}]
    },
    "RedriveDeadLetters": lambda n: {},
    "CreateArchive": lambda n: {"name": f"archive-{n}"},
    "StartReplay": lambda n: {
        "name": f"replay-{n}",
        "archive": f"arch-{n}",
        "event_start_time": "2020-01-01T00:00:00Z",
        "event_end_time": "2020-01-02T00:00:00Z",
    },
    # metrics and alarms
    "PutMetricData": lambda n: {
        "namespace": "Route/Suite",
        "metric_data": [{"metric_name": "latency", "value": n, "unit": "Milliseconds"}],
    },
    "GetMetricStatistics": lambda n: {
        "namespace": "Route/Suite",
        "metric_name": "latency",
        "start_time": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "end_time": datetime.now(UTC).isoformat(),
        "period": 60,
        "statistics": ["Average", "SampleCount"],
        "extended_statistics": ["p99"],
    },
    "GetMetricData": lambda n: {
        "queries": [
            {
                "id": "latency",
                "metric_stat": {
                    "namespace": "Route/Suite",
                    "metric_name": "latency",
                    "period": 60,
                    "stat": "p99",
                },
            },
            {"id": "doubled", "expression": "2 * latency"},
        ],
        "start_time": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "end_time": datetime.now(UTC).isoformat(),
    },
    "PutMetricAlarm": lambda n: METRIC_ALARM,
    "PutCompositeAlarm": lambda n: {"alarm_rule": "ALARM(base) OR NOT OK(base)"},
    "SetAlarmState": lambda n: {"state_value": "ALARM", "state_reason": f"route suite {n}"},
    # monitoring
    "UploadDataset": lambda n: {"prediction": 0.5, "f0": float(n), "f1": 1.0},
    "CreateBaseline": lambda n: {
        "name": f"bl-{n}",
        "type": "data_quality",
        "dataset": "base.jsonl",
    },
    "ImportBaseline": lambda n: {"name": f"imported-{n}", **MONITOR_BASELINE},
    "CreateMonitor": lambda n: {
        "name": f"mon-{n}",
        "endpoint": "e",
        "baseline": "bl",
        "schedule": "rate(1 hour)",
    },
    "UpdateMonitor": lambda n: {"schedule": "cron(0 * ? * * *)"},
    "StartMonitoringExecution": lambda n: {},
    # training
    "CreateTrainingJob": lambda n: {**TRAINING_JOB, "name": f"job-{n}"},
}
METRIC_ALARM = {
    "namespace": "Route/Suite",
    "metric_name": "latency",
    "statistic": "Average",
    "period": 60,
    "evaluation_periods": 3,
    "threshold": 100.0,
    "comparison_operator": "GreaterThanThreshold",
}
# Jobs stay Pending in the route suites: no runner runs there.
TRAINING_JOB = {
    "entrypoint": {"command": ["true"]},
    "training_data": {"uri": "/dev/null"},
    "model_group": "g",
}


def _monitor_baseline() -> dict[str, Any]:
    """A SageMaker-shaped data-quality baseline of the route suites' endpoint traffic."""
    from mlgov.analytics import profile, suggest_constraints
    from mlgov.formats.baseline import to_wire

    statistics = profile({"prediction": [0.5, 0.5], "f0": [1.0, 2.0], "f1": [1.0, 1.0]})
    return {
        "statistics": to_wire(statistics),
        "constraints": to_wire(suggest_constraints(statistics)),
    }


MONITOR_BASELINE = _monitor_baseline()
EVENT_PATTERN = {"source": ["route.suite"]}
LOG_TARGET = {"id": "t", "type": "internal", "config": {"handler": "log"}}


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def api_routes(app: FastAPI) -> list[AuditedRoute]:
    """The routes, each with ``full_path`` set to where the app serves it."""
    routes = []
    for route in all_api_routes():
        route.full_path = route.path  # type: ignore[attr-defined]
        routes.append(route)
    return routes


def method_of(route: AuditedRoute) -> str:
    return next(iter(route.methods))


def verb_of(route: AuditedRoute) -> str:
    return route.operation_id or route.action.verb


@dataclass
class World:
    """Resources the path parameters of every route can point at, in two accounts."""

    admin: Client
    account: str
    other_account: str
    org_unit: str
    principal: str
    counter: int = 0
    _last_n: int = 0
    _account: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def next(self) -> int:
        self.counter += 1
        return self.counter

    def _fresh_version(self, account: str, *, approved: bool = False, card: bool = False) -> str:
        registry = self.admin.registry
        number = registry.create_version(
            account, "g", flavor="sklearn", artifact_sha256=_sha(ARTIFACT)
        )["version"]
        if approved:
            registry.approve(account, "g", number)
        if card:
            registry.write_card(account, "g", number, CARD)
        return str(number)

    def path_for(self, route: AuditedRoute, *, account: str | None = None) -> str:
        """Fill the route's path; state-changing routes get a fresh target created here."""
        path: str = route.full_path  # type: ignore[attr-defined]
        n = self.next()
        target = account or self.account
        values = {
            "account": target,
            "org_unit": self.org_unit,
            "principal": self.principal,
            "group": "g",
            "version": "1",
            "alias": f"alias{n}",
            # Shares go to a bystander account, never to the account whose key is under test.
            "grantee": "bystander",
        }
        verb = verb_of(route)
        identity = self.admin.identity
        if verb == "DeleteOrgUnit":
            values["org_unit"] = identity.create_org_unit(f"doomed-{n}")["name"]
        if verb == "RevokeApiKey":
            values["key_id"] = identity.create_key(self.principal)["id"]
        if verb in ("DeleteAccountRoleBinding", "DeleteOrgUnitRoleBinding"):
            holder = identity.create_principal(f"holder-{n}")["name"]
            scope = {"account": target} if "{account}" in path else {"org_unit": self.org_unit}
            values["binding_id"] = identity.bind_role(holder, "Viewer", **scope)["id"]
        if verb in ("CreateAccountRoleBinding", "CreateOrgUnitRoleBinding"):
            identity.create_principal(f"bound-{n}")
        if verb in ("ApproveModelVersion", "RejectModelVersion"):
            values["version"] = self._fresh_version(target)
        if verb == "PromoteModelVersion":
            values["version"] = self._fresh_version(target, approved=True)
        if verb == "UpdateModelCardStatus":
            values["version"] = self._fresh_version(target, card=True)
        if verb == "DeleteModelAlias":
            self.admin.registry.set_alias(target, "g", values["alias"], 1)
        if verb == "DeleteModelGroupGrant":
            self.admin.registry.grant(target, "g", values["grantee"], ["read"])
        values["endpoint"] = "e"
        values["transform_job"] = "j"
        if verb == "PutTransformJobGroundTruth":  # labels need a job that captures its rows
            values["transform_job"] = self.admin.serving.create_transform_job(
                target, f"captured-{n}", "g", 1, data_sha256=_sha(DATASET), capture=True
            )["name"]
        if verb == "DeleteEndpoint":
            values["endpoint"] = self.admin.serving.create_endpoint(
                target, f"doomed-{n}", [{"group": "g", "version": 1}]
            )["name"]
        self._event_values(verb, path, target, n, values)
        self._alarm_values(verb, path, target, n, values)
        self._monitoring_values(verb, path, target, n, values)
        self._training_values(verb, path, target, n, values)
        for name, value in values.items():
            path = path.replace("{" + name + "}", value)
        self._last_n, self._account = n, target
        return path

    def _event_values(
        self, verb: str, path: str, target: str, n: int, values: dict[str, str]
    ) -> None:
        events = self.admin.events
        values.update(bus="default", rule="r", target_id="t")
        if "{rule}" in path and verb != "PutRule":
            events.put_rule(target, "r", EVENT_PATTERN)
        if verb == "DeleteEventBus":
            values["bus"] = events.create_bus(target, f"doomed-{n}")["name"]
        if verb == "DeleteEventBusPermission":
            events.permit(target, values["grantee"])
        if verb == "DeleteRule":
            values["rule"] = events.put_rule(target, f"doomed-{n}", EVENT_PATTERN)["name"]
        if verb == "RemoveTargets":
            values["rule"] = events.put_rule(target, f"rm-{n}", EVENT_PATTERN)["name"]
            events.put_targets(target, values["rule"], [LOG_TARGET])
        if "{archive}" in path or verb in ("StartReplay",) or "{replay}" in path:
            values["archive"] = events.create_archive(target, f"arch-{n}")["name"]
        if "{replay}" in path:
            start, end = datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 2, tzinfo=UTC)
            values["replay"] = events.start_replay(target, f"replay-{n}", f"arch-{n}", start, end)[
                "name"
            ]

    def _alarm_values(
        self, verb: str, path: str, target: str, n: int, values: dict[str, str]
    ) -> None:
        if "{alarm}" not in path:
            return
        alarms = self.admin.alarms
        if verb in ("PutMetricAlarm", "PutCompositeAlarm"):
            values["alarm"] = f"alarm-{n}"
            alarms.put_metric_alarm(target, "base", **METRIC_ALARM)
            return
        values["alarm"] = f"doomed-{n}" if verb == "DeleteAlarm" else "a"
        alarms.put_metric_alarm(target, values["alarm"], **METRIC_ALARM)

    def _training_values(
        self, verb: str, path: str, target: str, n: int, values: dict[str, str]
    ) -> None:
        if "{job}" not in path:
            return
        values["job"] = f"stoppable-{n}" if verb == "StopTrainingJob" else "j"
        if values["job"] == "j" and f"job:{target}" in self.extra:
            return
        self.extra[f"job:{target}"] = True
        # Made earlier, maybe, through the account's other reference (name or id).
        with contextlib.suppress(Conflict):
            self.admin.training.create_job(
                target, values["job"], command=["true"], training_data="/dev/null", model_group="g"
            )

    def _monitoring_values(
        self, verb: str, path: str, target: str, n: int, values: dict[str, str]
    ) -> None:
        values.update(dataset=f"d{n}.jsonl", baseline="bl", monitor="m", file="statistics.json")
        if "/baselines" not in path and "/monitors" not in path:
            return
        monitoring = self.admin.monitoring
        if f"monitoring:{target}" not in self.extra:
            row = b'{"prediction": 0.5, "f0": 1.0, "f1": 1.0}\n'
            monitoring.upload_dataset(target, "base.jsonl", row * 3)
            # Made once per account; the account may be named here by name, then by id.
            with contextlib.suppress(Conflict):
                monitoring.import_baseline(target, "bl", **MONITOR_BASELINE)
            with contextlib.suppress(Conflict):
                monitoring.create_monitor(target, "m", "e", baseline="bl")
            self.extra[f"monitoring:{target}"] = True
        if verb == "DeleteBaseline":
            values["baseline"] = monitoring.import_baseline(
                target, f"doomed-{n}", **MONITOR_BASELINE
            )["name"]
        if verb == "DeleteMonitor":
            values["monitor"] = monitoring.create_monitor(
                target, f"doomed-{n}", "e", baseline="bl"
            )["name"]
        if "{execution}" in path:
            if verb == "DownloadMonitoringReport":
                values["execution"] = self._finished_execution(target)
            else:
                values["execution"] = monitoring.start_execution(target, "m")["id"]

    def _finished_execution(self, target: str) -> str:
        """An execution with reports: the endpoint captures a few calls, the monitor runs."""
        key = f"execution:{target}"
        if key in self.extra:
            return str(self.extra[key])
        self.admin.serving.update_endpoint(target, "e", capture={"enabled": True})
        # JSON, as InvokeEndpoint's sample: that call may have been captured already (the sample
        # of UpdateEndpoint turns capture on) and one capture file holds one encoding.
        for _ in range(3):
            self.admin.serving.invoke(target, "e", [[1.0, 2.0]])
        now = datetime.now(UTC)
        for _ in range(40):  # the capture writer flushes every second
            started = self.admin.monitoring.start_execution(
                target,
                "m",
                start=now - timedelta(hours=1),
                end=now + timedelta(hours=1),
                run_inline=True,
            )
            found = self.admin.monitoring.get_execution(target, "m", started["id"])
            if found["reports"]:
                self.extra[key] = found["id"]
                return str(found["id"])
            time.sleep(0.1)
        raise AssertionError(f"no monitoring execution finished with reports: {found}")

    def body_for(self, route: AuditedRoute) -> Any:
        make = SAMPLE_BODIES.get(verb_of(route)) or SAMPLE_BODIES.get(route.action.verb)
        if make is None:
            assert route.body_field is None, f"no sample body for {verb_of(route)}"
            return None
        body = make(self._last_n)
        if isinstance(body, dict) and body.get("target_account") == "{self}":
            body = {**body, "target_account": self._account}
        return body


def build_world(admin: Client) -> World:
    admin.identity.create_org_unit("workloads")
    a = admin.identity.create_account("team-a", "dev", org_unit="workloads")
    b = admin.identity.create_account("team-b", "prod", org_unit="workloads")
    admin.identity.create_principal("someone")
    admin.identity.create_account("bystander", "dev")
    for account in (a["name"], b["name"]):
        # The admin both registers and decides in the route suites, so four-eyes is off here.
        admin.registry.update_settings(account, four_eyes=False)
        admin.registry.create_group(account, "g")
        admin.registry.create_version(account, "g", flavor="sklearn", artifact=ARTIFACT)
        admin.registry.write_card(account, "g", 1, CARD)
        admin.registry.approve(account, "g", 1)  # team-b is prod: it serves Approved versions
        admin.serving.create_endpoint(account, "e", [{"group": "g", "version": 1}])
        admin.serving.create_transform_job(account, "j", "g", 1, data=DATASET)
    # The transform job runs here (no worker runs in the suites), so its output can be fetched.
    run_pending(admin._transport.http.app.state.runtime)
    return World(
        admin=admin,
        account=a["name"],
        other_account=b["name"],
        org_unit="workloads",
        principal="someone",
    )
