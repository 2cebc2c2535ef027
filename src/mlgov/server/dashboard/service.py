"""Compose the dashboard from the registry, serving, monitoring and alarms, for what one sees.

An alarm belongs to an endpoint's row when its dimensions name the endpoint (``EndpointName``)
or one of the endpoint's monitors (``MonitorName``), the way SageMaker and Model Monitor metrics
are dimensioned; a composite alarm belongs where one of the alarms it names belongs.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy.orm import Session

from mlgov.server.alarms.tables import Alarm
from mlgov.server.dashboard import schemas
from mlgov.server.dashboard.repository import DashboardRepository
from mlgov.server.identity import service as identity
from mlgov.server.kit.context import Caller

SEE_ENDPOINTS = "serving:DescribeEndpoint"
VIOLATING = ("CompletedWithViolations",)


def _dimension(alarm: Alarm, name: str) -> str | None:
    for dimension in alarm.dimensions or []:
        if dimension.get("name") == name:
            return str(dimension.get("value"))
    return None


def build(session: Session, caller: Caller, account: str | None = None) -> schemas.Dashboard:
    seen = identity.visibility(session, caller, SEE_ENDPOINTS).account_ids_in(session)
    if account is not None:
        wanted = identity.get_account(session, account).id
        seen = [wanted] if seen is None or wanted in seen else []
    repo = DashboardRepository(session)
    endpoints = repo.endpoints(seen)
    account_ids = sorted({row.account_id for row, _ in endpoints})
    version_ids = sorted({v["version_id"] for row, _ in endpoints for v in row.variants})
    versions, aliases = repo.versions(version_ids), repo.aliases(version_ids)

    monitors = repo.monitors(account_ids)
    latest = repo.latest_executions([m.id for m in monitors])
    by_endpoint: dict[tuple[str, str], list[schemas.MonitorStatus]] = defaultdict(list)
    monitor_home: dict[tuple[str, str], str] = {}
    for monitor in monitors:
        if monitor.endpoint_name is None:
            continue  # a monitor on a batch transform job has no endpoint row
        execution = latest.get(monitor.id)
        monitor_home[(monitor.account_id, monitor.name)] = monitor.endpoint_name
        by_endpoint[(monitor.account_id, monitor.endpoint_name)].append(
            schemas.MonitorStatus(
                name=monitor.name,
                type=monitor.type,
                schedule=monitor.schedule,
                last_execution_status=execution.status if execution else None,
                last_execution_at=(execution.ended_at or execution.created_at)
                if execution
                else None,
                violations=execution.violation_count if execution else 0,
            )
        )

    alarms_by_endpoint: dict[tuple[str, str], list[Alarm]] = defaultdict(list)
    composites = []
    for alarm in repo.alarms(account_ids):
        if alarm.kind == "composite":
            composites.append(alarm)
            continue
        home = _dimension(alarm, "EndpointName") or monitor_home.get(
            (alarm.account_id, _dimension(alarm, "MonitorName") or "")
        )
        if home is not None:
            alarms_by_endpoint[(alarm.account_id, home)].append(alarm)
    for composite in composites:
        rule = composite.alarm_rule or ""
        for (account_id, home), members in list(alarms_by_endpoint.items()):
            if account_id == composite.account_id and any(m.name in rule for m in members):
                alarms_by_endpoint[(account_id, home)].append(composite)

    rows = []
    for endpoint, owner in endpoints:
        key = (endpoint.account_id, endpoint.name)
        watched = by_endpoint.get(key, [])
        alarms = alarms_by_endpoint.get(key, [])
        rows.append(
            schemas.EndpointRow(
                account_id=owner.id,
                account=owner.name,
                environment=owner.environment,
                endpoint=endpoint.name,
                revision=endpoint.revision,
                capture=bool(endpoint.capture.get("enabled")),
                versions=[
                    schemas.ServedVersion(
                        variant=v["name"],
                        weight=v["weight"],
                        group=v["group"],
                        version=v["version"],
                        approval_status=(
                            versions[v["version_id"]].approval_status
                            if v["version_id"] in versions
                            else None
                        ),
                        aliases=aliases.get(v["version_id"], []),
                    )
                    for v in endpoint.variants
                ],
                monitors=watched,
                open_violations=sum(
                    m.violations for m in watched if m.last_execution_status in VIOLATING
                ),
                alarms=[
                    schemas.AlarmStatus(
                        name=a.name,
                        state=a.state_value,
                        reason=a.state_reason,
                        updated_at=a.state_updated_at,
                    )
                    for a in alarms
                ],
                alarms_in_alarm=sum(1 for a in alarms if a.state_value == "ALARM"),
            )
        )
    return schemas.Dashboard(endpoints=rows)
