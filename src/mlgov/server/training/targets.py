"""Internal event targets that close the loop: an event starts retraining, an approval deploys.

``training.start_job``: target config ``{"handler": "training.start_job", "options": {"job": <job
template>, "name_prefix": "retrain"}}``; each matching event starts one job (a redelivered event,
none more), which records the event's id in its lineage.

``serving.deploy_approved``: target config ``{"handler": "serving.deploy_approved", "options":
{"endpoint": NAME, "group": GROUP, "variant": NAME?, "alias": "champion"?}}``; on a ``Model
Version State Change`` to ``Approved`` of a version of GROUP, the endpoint's variant serving GROUP
(or the named one) switches to that version, blue/green, and ``alias`` (if given) moves to it.

Both act in the account that owns the rule, and only on its own groups and endpoints.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from mlgov.errors import AccessDenied, Conflict, MlgovError, PreconditionFailed
from mlgov.server.db.engine import unit_of_work
from mlgov.server.events.targets import DeliveryFailed, Outgoing, register_internal_target
from mlgov.server.identity import service as identity
from mlgov.server.kit.context import Caller
from mlgov.server.kit.ids import new_id
from mlgov.server.kit.runtime import Runtime
from mlgov.server.registry import service as registry
from mlgov.server.registry.schemas import ApprovalStatus
from mlgov.server.serving import schemas as serving_schemas
from mlgov.server.serving import service as serving
from mlgov.server.training import schemas, service
from mlgov.server.training.repository import TrainingRepository

logger = logging.getLogger("mlgov.training.targets")

START_JOB = "training.start_job"
DEPLOY_APPROVED = "serving.deploy_approved"


def _runtime(outgoing: Outgoing) -> Runtime:
    if outgoing.runtime is None or not outgoing.account_id:
        raise DeliveryFailed(
            "NO_RESOURCE", "the handler runs only in the event dispatcher", retriable=False
        )
    runtime: Runtime = outgoing.runtime
    return runtime


def _options(outgoing: Outgoing) -> dict[str, Any]:
    options = outgoing.config.get("options")
    return dict(options) if isinstance(options, dict) else {}


def _rule_principal(rule_name: str) -> str:
    """Who a rule's actions are recorded as: the rule itself, not a person."""
    return f"rule/{rule_name}"[:40]


def _failed(error: MlgovError) -> DeliveryFailed:
    # Missing or refused resources will not appear by retrying; a concurrent change may pass.
    retriable = isinstance(error, Conflict)
    code = "NO_PERMISSIONS" if isinstance(error, AccessDenied) else "NO_RESOURCE"
    if retriable:
        code = "CONFLICT"
    return DeliveryFailed(code, error.message, retriable=retriable)


# --- training.start_job --------------------------------------------------------------------------


def start_job(outgoing: Outgoing) -> None:
    runtime = _runtime(outgoing)
    try:
        template = schemas.JobTemplate.model_validate(_options(outgoing).get("job"))
    except ValidationError as exc:
        raise DeliveryFailed(
            "INVALID_TARGET", f"options.job is not a training job template: {exc}", retriable=False
        ) from exc
    prefix = str(_options(outgoing).get("name_prefix") or "retrain")[:30].strip("-") or "retrain"
    trigger_key = f"{outgoing.rule_name}/{outgoing.event_id}"[:160]
    name = f"{prefix}-{new_id('').lstrip('-')}"[:63]
    try:
        with unit_of_work(runtime.session_factory) as session:
            if TrainingRepository(session).job_by_trigger(outgoing.account_id, trigger_key):
                return  # this event already started its job
            job = service.create_job(
                session,
                outgoing.account_id,
                _rule_principal(outgoing.rule_name),
                schemas.TrainingJobCreate(name=name, **template.model_dump()),
                triggered_by_event=outgoing.event_id,
                trigger_key=trigger_key,
            )
            logger.info("event %s started training job %s", outgoing.event_id, job.name)
    except IntegrityError:
        return  # a concurrent delivery of the same event started it
    except MlgovError as error:
        raise _failed(error) from error


# --- serving.deploy_approved ---------------------------------------------------------------------


def _approved_version(outgoing: Outgoing) -> tuple[str, int] | None:
    event = outgoing.event
    detail: dict[str, Any] = event.get("detail") or {}
    if event.get("detail-type") != registry.VERSION_CHANGE:
        return None
    if detail.get("ModelApprovalStatus") != ApprovalStatus.APPROVED.value:
        return None
    if event.get("account") != outgoing.account_id:
        return None  # a version of another account: not ours to deploy
    group, number = detail.get("ModelPackageGroupName"), detail.get("ModelPackageVersion")
    wanted = _options(outgoing).get("group")
    if not isinstance(group, str) or not isinstance(number, int) or (wanted and group != wanted):
        return None
    return group, number


def deploy_approved(outgoing: Outgoing) -> None:
    runtime = _runtime(outgoing)
    found = _approved_version(outgoing)
    if found is None:
        return
    group, number = found
    options = _options(outgoing)
    endpoint_name = options.get("endpoint")
    if not isinstance(endpoint_name, str):
        raise DeliveryFailed("INVALID_TARGET", "options.endpoint is missing", retriable=False)
    variant_name = options.get("variant")
    caller = Caller(
        principal_id=_rule_principal(outgoing.rule_name),
        principal_name=_rule_principal(outgoing.rule_name),
        principal_type="Service",
        principal_account_id=outgoing.account_id,
        api_key_id="-",
    )
    try:
        with unit_of_work(runtime.session_factory) as session:
            account = identity.get_account(session, outgoing.account_id)
            endpoint = serving.get_endpoint(session, account.id, endpoint_name)
            variants, changed = _swap(endpoint.variants, group, number, variant_name)
            if changed:
                endpoint = serving.update_endpoint(
                    session,
                    account,
                    endpoint,
                    caller,
                    serving_schemas.EndpointUpdate(variants=variants),
                )
                # Green loads before the switch commits; a model that fails to load changes nothing.
                serving.warm(runtime.models, endpoint.variants)
            alias = options.get("alias")
            if isinstance(alias, str) and alias:
                model_group = registry.get_group(session, account.id, group)
                registry.set_alias(session, model_group, alias, number, caller)
    except MlgovError as error:
        raise _failed(error) from error
    if changed:
        logger.info("endpoint %s now serves %s version %d", endpoint_name, group, number)


def _swap(
    current: list[dict[str, Any]], group: str, number: int, variant_name: Any
) -> tuple[list[serving_schemas.VariantSpec], bool]:
    """The endpoint's variants with the one for ``group`` (or ``variant_name``) on ``number``."""
    specs, changed, matched = [], False, False
    for variant in current:
        hit = variant["name"] == variant_name if variant_name else variant["group"] == group
        if hit and not matched:
            matched = True
            changed = variant["group"] != group or variant["version"] != number
            name = variant["name"]
            if name == f"{variant['group']}-{variant['version']}":
                name = f"{group}-{number}"  # a default name follows the version it names
            specs.append(
                serving_schemas.VariantSpec(
                    name=name, group=group, version=number, weight=variant["weight"]
                )
            )
        else:
            specs.append(
                serving_schemas.VariantSpec(
                    name=variant["name"],
                    group=variant["group"],
                    version=variant["version"],
                    weight=variant["weight"],
                )
            )
    if not matched:
        wanted = f"variant {variant_name}" if variant_name else f"a variant of group {group}"
        raise _failed(PreconditionFailed(f"the endpoint has no {wanted}"))
    return specs, changed


register_internal_target(START_JOB, start_job)
register_internal_target(DEPLOY_APPROVED, deploy_approved)
