"""Registry logic: groups, versions, artifacts, approvals, aliases, promotion, grants, cards.

Services never commit; every state change also writes an event to the outbox in the same
transaction (source ``mlgov.registry``), so the bus can route it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from mlgov.errors import (
    AccessDenied,
    Conflict,
    ErrorCode,
    InvalidRequest,
    NotFound,
    PreconditionFailed,
)
from mlgov.server.db.base import utc_now
from mlgov.server.db.driver import Record
from mlgov.server.identity import service as identity
from mlgov.server.identity.tables import Account
from mlgov.server.kit import outbox
from mlgov.server.kit.blobs import BlobRef, BlobStore
from mlgov.server.kit.context import GRANT_RESOLVERS, Caller
from mlgov.server.kit.ids import new_id
from mlgov.server.kit.pagination import PageRequest
from mlgov.server.registry import schemas
from mlgov.server.registry.repository import RegistryRepository
from mlgov.server.registry.tables import (
    AccountArtifact,
    ApprovalDecision,
    ModelAlias,
    ModelGroup,
    ModelGroupGrant,
    ModelVersion,
    RegistrySettings,
)

SOURCE = "mlgov.registry"
VERSION_CHANGE = "Model Version State Change"
ALIAS_CHANGE = "Model Alias Change"
CARD_CHANGE = "Model Card State Change"


def resource_name(account_id: str, group: str, version: int | None = None) -> str:
    suffix = f"/{version}" if version is not None else ""
    return f"mlgov:registry:{account_id}:model-group/{group}{suffix}"


# --- artifacts -------------------------------------------------------------------------------


def store_artifact(
    session: Session, blobs: BlobStore, account_id: str, caller: Caller, chunks: Iterable[bytes]
) -> BlobRef:
    ref = blobs.put(chunks)
    _own_artifact(session, account_id, ref, caller)
    return ref


def _own_artifact(session: Session, account_id: str, ref: BlobRef, caller: Caller) -> None:
    store_artifact_reference(session, account_id, ref, caller.principal_id)


def store_artifact_reference(
    session: Session, account_id: str, ref: BlobRef, created_by: str
) -> None:
    """Record that the account may read this blob (content addressing alone must not let it)."""
    repo = RegistryRepository(session)
    if repo.artifact(account_id, ref.sha256) is None:
        repo.add(
            AccountArtifact(
                account_id=account_id, sha256=ref.sha256, size=ref.size, created_by=created_by
            )
        )


# --- groups ----------------------------------------------------------------------------------


def get_group(session: Session, account_id: str, name: str) -> ModelGroup:
    group = RegistryRepository(session).group(account_id, name)
    if group is None:
        raise NotFound(f"model group {name} does not exist", code=ErrorCode.MODEL_GROUP_NOT_FOUND)
    return group


def create_group(
    session: Session, account_id: str, caller: Caller, data: schemas.ModelGroupCreate
) -> ModelGroup:
    repo = RegistryRepository(session)
    if repo.group(account_id, data.name) is not None:
        raise Conflict(f"model group {data.name} exists", code=ErrorCode.ALREADY_EXISTS)
    group = ModelGroup(
        id=new_id("mg"),
        account_id=account_id,
        name=data.name,
        description=data.description,
        tags=dict(data.tags),
        latest_version=0,
        created_by=caller.principal_id,
    )
    repo.add(group)
    return group


def update_group(session: Session, group: ModelGroup, data: schemas.ModelGroupUpdate) -> ModelGroup:
    if data.description is not None:
        group.description = data.description
    if data.tags is not None:
        group.tags = dict(data.tags)
    session.flush()
    return group


def list_groups(session: Session, account_id: str, page: PageRequest) -> Sequence[ModelGroup]:
    return RegistryRepository(session).groups(account_id, page)


# --- versions --------------------------------------------------------------------------------


def get_version(session: Session, group: ModelGroup | Record, number: int) -> ModelVersion:
    version = RegistryRepository(session).version(group.id, number)
    if version is None:
        raise NotFound(
            f"model group {group.name} has no version {number}",
            code=ErrorCode.MODEL_VERSION_NOT_FOUND,
        )
    return version


def create_version(
    session: Session,
    account_id: str,
    group_name: str,
    caller: Caller,
    data: schemas.ModelVersionCreate,
    *,
    promoted_from: dict[str, Any] | None = None,
) -> Record:
    """A new version of the group, numbered after the group's last; a named tuple of its columns.

    The number is taken first, which locks the group: concurrent versions of one group are
    numbered one after another. A refusal after that rolls the number back with the call.
    """
    repo = RegistryRepository(session)
    group = repo.allocate_version(account_id, group_name)
    if group is None:
        raise NotFound(
            f"model group {group_name} does not exist", code=ErrorCode.MODEL_GROUP_NOT_FOUND
        )
    artifact = repo.artifact(account_id, data.artifact_sha256)
    if artifact is None:
        raise NotFound(
            f"this account has no artifact {data.artifact_sha256}; upload it first",
            code=ErrorCode.ARTIFACT_NOT_FOUND,
        )
    parent_id = None
    if data.parent_version is not None:
        parent_id = get_version(session, group, data.parent_version).id
    now = utc_now()
    version = repo.insert_version(
        {
            "id": new_id("mv"),
            "group_id": group.id,
            "account_id": account_id,
            "version": group.latest_version,
            "description": data.description,
            "flavor": data.flavor.value,
            "signature": data.signature.model_dump(),
            "metrics": dict(data.metrics),
            "parameters": dict(data.parameters),
            "tags": dict(data.tags),
            "lineage": data.lineage.model_dump(exclude_none=True),
            "artifact_sha256": artifact.sha256,
            "artifact_size": artifact.size,
            "parent_version_id": parent_id,
            "promoted_from": promoted_from,
            "approval_status": schemas.ApprovalStatus.PENDING.value,
            "created_by": caller.principal_id,
            "created_at": now,
            "updated_at": now,
            "revision": 1,
        }
    )
    _version_event(session, group, version, "Created", caller)
    return version


def update_version(
    session: Session, version: ModelVersion, data: schemas.ModelVersionUpdate
) -> ModelVersion:
    if data.description is not None:
        version.description = data.description
    if data.tags is not None:
        version.tags = dict(data.tags)
    version.updated_at = utc_now()
    session.flush()
    return version


def search_versions(
    session: Session, account_id: str, query: schemas.VersionSearch, page: PageRequest
) -> list[Record]:
    repo = RegistryRepository(session)
    group_id = get_group(session, account_id, query.group).id if query.group else None
    return repo.search_versions(
        account_id,
        page,
        group_id=group_id,
        approval_status=query.approval_status.value if query.approval_status else None,
        alias=query.alias,
        created_after=query.created_after,
        created_before=query.created_before,
        tag=_tag_filter(query.tag),
    )


def _tag_filter(tag: str | None) -> tuple[str, str | None] | None:
    """``key`` or ``key=value`` (split at the first ``=``; ``key=`` is the same as ``key``)."""
    if tag is None:
        return None
    key, _, value = tag.partition("=")
    return key, value or None


@dataclass(frozen=True)
class VersionView:
    version: ModelVersion | Record  # an ORM object, or a plain row of its columns
    group_name: str
    aliases: list[str]


def describe(session: Session, versions: Sequence[ModelVersion | Record]) -> list[VersionView]:
    repo = RegistryRepository(session)
    names = repo.group_names([v.group_id for v in versions])
    aliases = repo.aliases_of([v.id for v in versions], [v.group_id for v in versions])
    return [VersionView(v, names[v.group_id], aliases.get(v.id, [])) for v in versions]


def describe_version(
    session: Session, account_id: str, group_name: str, number: int
) -> VersionView:
    """A version by its group's name and its number, for reading only (a plain row)."""
    repo = RegistryRepository(session)
    row = repo.version_row(account_id, group_name, number)
    if row is None:
        # Not there: the lookups one by one say which is missing (the 404's code). A version
        # registered in between is simply described.
        found = get_version(session, get_group(session, account_id, group_name), number)
        return describe_one(session, found, group_name)
    return VersionView(row, group_name, repo.aliases_of([row.id]).get(row.id, []))


def describe_one(
    session: Session, version: ModelVersion | Record, group_name: str, *, created: bool = False
) -> VersionView:
    """One version whose group is known; a version just created has no aliases yet."""
    if created:
        return VersionView(version, group_name, [])
    aliases = RegistryRepository(session).aliases_of([version.id])
    return VersionView(version, group_name, aliases.get(version.id, []))


def _version_event(
    session: Session,
    group: ModelGroup | Record,
    version: ModelVersion | Record,
    change: str,
    caller: Caller,
    **extra: Any,
) -> None:
    outbox.emit(
        session,
        account_id=group.account_id,
        source=SOURCE,
        detail_type=VERSION_CHANGE,
        resources=[resource_name(group.account_id, group.name, version.version)],
        detail={
            "change": change,
            "ModelPackageGroupName": group.name,
            "ModelPackageVersion": version.version,
            "ModelVersionId": version.id,
            "ModelApprovalStatus": version.approval_status,
            "ArtifactSha256": version.artifact_sha256,
            "Flavor": version.flavor,
            "Metrics": version.metrics,
            "PromotedFrom": version.promoted_from,
            "ChangedBy": caller.principal_name,
            **extra,
        },
    )


# --- approvals -------------------------------------------------------------------------------


def settings_of(session: Session, account_id: str) -> RegistrySettings:
    found = RegistryRepository(session).settings(account_id)
    if found is None:
        return RegistrySettings(
            account_id=account_id, four_eyes=True, protected_aliases={}, promotion_requirements={}
        )
    return found


def decide(
    session: Session,
    group: ModelGroup,
    version: ModelVersion,
    caller: Caller,
    status: schemas.ApprovalStatus,
    data: schemas.Decision,
) -> ApprovalDecision:
    """Record an approval decision; of concurrent decisions only the first to commit stands."""
    if (
        settings_of(session, group.account_id).four_eyes
        and version.created_by == caller.principal_id
    ):
        raise AccessDenied(
            f"{caller.principal_name} registered version {version.version} and may not decide on "
            "it (four-eyes rule of this account)",
            code=ErrorCode.SELF_APPROVAL_FORBIDDEN,
        )
    if data.if_status is not None and version.approval_status != data.if_status.value:
        raise Conflict(
            f"version {version.version} is {version.approval_status}, not {data.if_status.value}",
            code=ErrorCode.CONFLICT,
            details={"approval_status": version.approval_status},
        )
    if version.approval_status == status.value:
        raise Conflict(
            f"version {version.version} is already {status.value}",
            code=ErrorCode.CONFLICT,
            details={"approval_status": version.approval_status},
        )
    decision = ApprovalDecision(
        id=new_id("ad"),
        version_id=version.id,
        previous_status=version.approval_status,
        status=status.value,
        reviewer_id=caller.principal_id,
        reviewer_name=caller.principal_name,
        comment=data.comment,
        decided_at=utc_now(),
    )
    number = version.version  # a failed flush expires the row; keep what the error names
    version.approval_status = status.value
    version.updated_at = decision.decided_at
    try:
        session.add(decision)
        session.flush()
    except StaleDataError as exc:
        raise Conflict(
            f"another decision on version {number} committed first", code=ErrorCode.CONFLICT
        ) from exc
    _version_event(
        session,
        group,
        version,
        "ApprovalChanged",
        caller,
        PreviousApprovalStatus=decision.previous_status,
        Comment=data.comment,
    )
    return decision


def decisions(session: Session, version: ModelVersion) -> Sequence[ApprovalDecision]:
    return RegistryRepository(session).decisions(version.id)


# --- aliases ---------------------------------------------------------------------------------


def _check_protected(session: Session, group: ModelGroup, alias: str, caller: Caller) -> None:
    allowed = settings_of(session, group.account_id).protected_aliases.get(alias)
    if not allowed:
        return
    held = identity.roles_on_account(session, caller, group.account_id)
    if not held & set(allowed):
        raise AccessDenied(
            f"alias {alias} is protected: only {', '.join(allowed)} may move it",
            code=ErrorCode.ALIAS_PROTECTED,
        )


def set_alias(
    session: Session, group: ModelGroup, alias: str, number: int, caller: Caller
) -> tuple[ModelAlias, int]:
    _check_protected(session, group, alias, caller)
    version = get_version(session, group, number)
    repo = RegistryRepository(session)
    row = repo.alias(group.id, alias)
    previous = None
    if row is None:
        row = ModelAlias(
            group_id=group.id,
            name=alias,
            version_id=version.id,
            updated_by=caller.principal_id,
            updated_at=utc_now(),
        )
        session.add(row)
    else:
        previous = row.version_id
        row.version_id, row.updated_by, row.updated_at = version.id, caller.principal_id, utc_now()
    session.flush()
    previous_number = repo.version_by_id(previous).version if previous else None  # type: ignore[union-attr]
    _alias_event(session, group, alias, version.version, previous_number, caller)
    return row, version.version


def delete_alias(session: Session, group: ModelGroup, alias: str, caller: Caller) -> None:
    _check_protected(session, group, alias, caller)
    repo = RegistryRepository(session)
    row = repo.alias(group.id, alias)
    if row is None:
        raise NotFound(
            f"model group {group.name} has no alias {alias}", code=ErrorCode.ALIAS_NOT_FOUND
        )
    previous = repo.version_by_id(row.version_id)
    session.delete(row)
    session.flush()
    _alias_event(session, group, alias, None, previous.version if previous else None, caller)


def list_aliases(session: Session, group: ModelGroup) -> Sequence[tuple[ModelAlias, int]]:
    return RegistryRepository(session).aliases(group.id)


def _alias_event(
    session: Session,
    group: ModelGroup,
    alias: str,
    version: int | None,
    previous: int | None,
    caller: Caller,
) -> None:
    outbox.emit(
        session,
        account_id=group.account_id,
        source=SOURCE,
        detail_type=ALIAS_CHANGE,
        resources=[resource_name(group.account_id, group.name)],
        detail={
            "ModelPackageGroupName": group.name,
            "Alias": alias,
            "ModelPackageVersion": version,
            "PreviousModelPackageVersion": previous,
            "ChangedBy": caller.principal_name,
        },
    )


# --- promotion -------------------------------------------------------------------------------


def _compare(value: float, comparison: str, threshold: float) -> bool:
    return {
        "GreaterThanThreshold": value > threshold,
        "GreaterThanOrEqualToThreshold": value >= threshold,
        "LessThanThreshold": value < threshold,
        "LessThanOrEqualToThreshold": value <= threshold,
    }[comparison]


def unmet_requirements(
    session: Session, version: ModelVersion, requirements: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each promotion requirement of the target that the version does not meet, with why."""
    rules = schemas.PromotionRequirements.model_validate(requirements or {})
    failed: list[dict[str, Any]] = []
    if rules.require_approved_card:
        card = RegistryRepository(session).card(version.id)
        status = card.status if card else None
        if status != schemas.CardStatus.APPROVED.value:
            failed.append(
                {
                    "condition": "approved_model_card",
                    "message": f"the model card is {status or 'missing'}, not Approved",
                }
            )
    for rule in rules.metrics:
        value = version.metrics.get(rule.metric)
        if value is None or not _compare(float(value), rule.comparison.value, rule.threshold):
            failed.append(
                {
                    "condition": "metric",
                    "metric": rule.metric,
                    "message": f"{rule.metric} is {value if value is not None else 'missing'}; "
                    f"needs {rule.comparison.value} {rule.threshold}",
                }
            )
    return failed


def promote(
    session: Session,
    source_account: Account,
    group: ModelGroup,
    version: ModelVersion,
    caller: Caller,
    data: schemas.Promotion,
) -> Record:
    """Copy an Approved version into another account's group, reusing the artifact by hash."""
    if version.approval_status != schemas.ApprovalStatus.APPROVED.value:
        raise PreconditionFailed(
            f"only Approved versions can be promoted; version {version.version} is "
            f"{version.approval_status}",
            details={
                "failed": [
                    {
                        "condition": "approved_version",
                        "message": f"the version is {version.approval_status}",
                    }
                ]
            },
        )
    target = identity.find_account(session, data.target_account)
    target_group_name = data.target_group or group.name
    direct = target is not None and identity.may(
        session, caller, "registry:PromoteModelVersion", target.id
    )
    published = target is not None and source_account.id in RegistryRepository(session).grantees(
        target.id, target_group_name, schemas.GrantPermission.PUBLISH.value
    )
    if target is None or not (direct or published):
        raise AccessDenied(
            f"{caller.principal_name} may not promote into account {data.target_account}: it "
            "needs registry:PromoteModelVersion there, or a publish grant on the target group",
            code=ErrorCode.ACCESS_DENIED,
        )
    if target.id == source_account.id and target_group_name == group.name:
        raise InvalidRequest("a version cannot be promoted into its own group")
    failed = unmet_requirements(
        session, version, settings_of(session, target.id).promotion_requirements
    )
    if failed:
        raise PreconditionFailed(
            f"account {target.name} refuses the promotion: "
            + "; ".join(item["message"] for item in failed),
            code=ErrorCode.PROMOTION_REFUSED,
            details={"failed": failed},
        )
    repo = RegistryRepository(session)
    target_group = repo.group(target.id, target_group_name)
    if target_group is None:
        target_group = create_group(
            session,
            target.id,
            caller,
            schemas.ModelGroupCreate(
                name=target_group_name, description=group.description, tags=group.tags
            ),
        )
    existing = repo.promoted_copy(target_group.id, version.id)
    if existing is not None:
        raise Conflict(
            f"version {version.version} was already promoted to {target.name} as version "
            f"{existing.version}",
            code=ErrorCode.ALREADY_EXISTS,
            details={"version": existing.version},
        )
    _own_artifact(
        session, target.id, BlobRef(version.artifact_sha256, version.artifact_size), caller
    )
    origin = {
        "account_id": source_account.id,
        "account": source_account.name,
        "group": group.name,
        "version": version.version,
        "version_id": version.id,
        "artifact_sha256": version.artifact_sha256,
        "comment": data.comment,
    }
    lineage = dict(version.lineage)
    copy = create_version(
        session,
        target.id,
        target_group.name,
        caller,
        schemas.ModelVersionCreate(
            artifact_sha256=version.artifact_sha256,
            flavor=schemas.Flavor(version.flavor),
            description=version.description,
            signature=schemas.Signature.model_validate(version.signature),
            metrics=version.metrics,
            parameters=version.parameters,
            tags=version.tags,
            lineage=schemas.Lineage.model_validate(lineage),
        ),
        promoted_from=origin,
    )
    _version_event(
        session,
        group,
        version,
        "Promoted",
        caller,
        TargetAccount=target.id,
        TargetModelPackageVersion=copy.version,
    )
    return copy


# --- grants and settings ---------------------------------------------------------------------


def put_grant(
    session: Session,
    group: ModelGroup,
    grantee: Account,
    permissions: Sequence[str],
    caller: Caller,
) -> list[str]:
    if grantee.id == group.account_id:
        raise InvalidRequest("an account always has access to its own groups")
    repo = RegistryRepository(session)
    for grant in repo.grants(group.id):
        if grant.grantee_account_id == grantee.id:
            session.delete(grant)
    session.flush()
    for permission in sorted(set(permissions)):
        repo.add(
            ModelGroupGrant(
                id=new_id("mgg"),
                group_id=group.id,
                grantee_account_id=grantee.id,
                permission=permission,
                created_by=caller.principal_id,
            )
        )
    return sorted(set(permissions))


def delete_grant(session: Session, group: ModelGroup, grantee: Account) -> None:
    rows = [
        g
        for g in RegistryRepository(session).grants(group.id)
        if g.grantee_account_id == grantee.id
    ]
    if not rows:
        raise NotFound(
            f"model group {group.name} is not shared with {grantee.name}",
            code=ErrorCode.GRANT_NOT_FOUND,
        )
    for row in rows:
        session.delete(row)
    session.flush()


def list_grants(session: Session, group: ModelGroup) -> list[tuple[str, list[str]]]:
    by_account: dict[str, list[str]] = {}
    for grant in RegistryRepository(session).grants(group.id):
        by_account.setdefault(grant.grantee_account_id, []).append(grant.permission)
    return sorted(by_account.items())


def shared_with(session: Session, account_id: str) -> list[tuple[ModelGroup, list[str]]]:
    by_group: dict[str, tuple[ModelGroup, list[str]]] = {}
    for group, permission in RegistryRepository(session).shared_with(account_id):
        by_group.setdefault(group.id, (group, []))[1].append(permission)
    return list(by_group.values())


def put_settings(
    session: Session, account_id: str, data: schemas.RegistrySettings
) -> RegistrySettings:
    repo = RegistryRepository(session)
    row = repo.settings(account_id)
    if row is None:
        row = RegistrySettings(account_id=account_id)
        session.add(row)
    row.four_eyes = data.four_eyes
    row.protected_aliases = {k: list(v) for k, v in data.protected_aliases.items()}
    row.promotion_requirements = data.promotion_requirements.model_dump(mode="json")
    row.updated_at = utc_now()
    session.flush()
    return row


def _grantees(
    session: Session, owner_account_id: str, params: dict[str, Any], permission: str
) -> list[str]:
    group = params.get("group")
    if not isinstance(group, str):
        return []
    return RegistryRepository(session).grantees(owner_account_id, group, permission)


GRANT_RESOLVERS["model-group"] = _grantees
