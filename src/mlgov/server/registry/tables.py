"""Registry tables: model groups and versions, approvals, aliases, grants, settings, cards."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mlgov.server.db.base import Base, JSONDocument, UTCDateTime, utc_now


class AccountArtifact(Base):
    """A blob an account uploaded: content addressing must not let one account read another's."""

    __tablename__ = "account_artifacts"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class ModelGroup(Base):
    __tablename__ = "model_groups"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(63))
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("group_id", "version"),
        Index("ix_model_versions_account_created", "account_id", "created_at"),
        Index("ix_model_versions_account_status", "account_id", "approval_status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("model_groups.id", ondelete="RESTRICT"))
    account_id: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")
    flavor: Mapped[str] = mapped_column(String(32))
    signature: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    tags: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    lineage: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    artifact_sha256: Mapped[str] = mapped_column(String(64), index=True)
    artifact_size: Mapped[int] = mapped_column(BigInteger)
    parent_version_id: Mapped[str | None] = mapped_column(String(40))
    # Where a promoted version came from: the source version's id, account and group.
    promoted_from: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    approval_status: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    # Optimistic lock: of two concurrent decisions on one version, the second to commit fails.
    revision: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": revision}


class ApprovalDecision(Base):
    """Append-only history of approval decisions."""

    __tablename__ = "approval_decisions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    version_id: Mapped[str] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), index=True
    )
    previous_status: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    reviewer_id: Mapped[str] = mapped_column(String(40))
    reviewer_name: Mapped[str] = mapped_column(String(128))
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class ModelAlias(Base):
    __tablename__ = "model_aliases"

    group_id: Mapped[str] = mapped_column(
        ForeignKey("model_groups.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    updated_by: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class ModelGroupGrant(Base):
    """Shares a group with another account: ``read`` its versions, or ``publish`` into it."""

    __tablename__ = "model_group_grants"
    __table_args__ = (UniqueConstraint("group_id", "grantee_account_id", "permission"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    group_id: Mapped[str] = mapped_column(
        ForeignKey("model_groups.id", ondelete="CASCADE"), index=True
    )
    grantee_account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    permission: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class RegistrySettings(Base):
    """Per-account governance: four-eyes, protected aliases, promotion requirements."""

    __tablename__ = "registry_settings"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    four_eyes: Mapped[bool] = mapped_column(default=True)
    protected_aliases: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    promotion_requirements: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class ModelCard(Base):
    __tablename__ = "model_cards"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    version_id: Mapped[str] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), unique=True
    )
    account_id: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(16))
    risk_rating: Mapped[str] = mapped_column(String(16))
    current_revision: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    lock: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": lock}


class ModelCardRevision(Base):
    """Every edit of a card, content or status, is a new immutable revision."""

    __tablename__ = "model_card_revisions"

    card_id: Mapped[str] = mapped_column(
        ForeignKey("model_cards.id", ondelete="CASCADE"), primary_key=True
    )
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    risk_rating: Mapped[str] = mapped_column(String(16))
    content: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
