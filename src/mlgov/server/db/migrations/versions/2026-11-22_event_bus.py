"""event bus

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 02:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mlgov.server.db.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_deliveries",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_time", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("rule_id", sa.String(length=40), nullable=False),
        sa.Column("rule_name", sa.String(length=64), nullable=False),
        sa.Column("target_row_id", sa.String(length=40), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("replay_name", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("exhausted_condition", sa.String(length=32), nullable=True),
        sa.Column("created_at", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_deliveries")),
    )
    with op.batch_alter_table("event_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_event_deliveries_account_status", ["account_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_event_deliveries_due", ["status", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_event_deliveries_event_id"), ["event_id"], unique=False
        )

    op.create_table(
        "event_buses",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_event_buses_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_buses")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_event_buses_account_id_name")),
    )
    op.create_table(
        "event_archives",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("bus_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "event_pattern",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bus_id"],
            ["event_buses.id"],
            name=op.f("fk_event_archives_bus_id_event_buses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_archives")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_event_archives_account_id_name")),
    )
    op.create_table(
        "event_bus_permissions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("bus_id", sa.String(length=40), nullable=False),
        sa.Column("grantee_account_id", sa.String(length=40), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bus_id"],
            ["event_buses.id"],
            name=op.f("fk_event_bus_permissions_bus_id_event_buses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_bus_permissions")),
        sa.UniqueConstraint(
            "bus_id",
            "grantee_account_id",
            name=op.f("uq_event_bus_permissions_bus_id_grantee_account_id"),
        ),
    )
    with op.batch_alter_table("event_bus_permissions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_event_bus_permissions_grantee_account_id"),
            ["grantee_account_id"],
            unique=False,
        )

    op.create_table(
        "event_rules",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("bus_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "event_pattern",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bus_id"],
            ["event_buses.id"],
            name=op.f("fk_event_rules_bus_id_event_buses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_rules")),
        sa.UniqueConstraint("bus_id", "name", name=op.f("uq_event_rules_bus_id_name")),
    )
    with op.batch_alter_table("event_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_rules_account_id"), ["account_id"], unique=False)

    op.create_table(
        "archived_events",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("archive_id", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_time", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("archived_at", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["archive_id"],
            ["event_archives.id"],
            name=op.f("fk_archived_events_archive_id_event_archives"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_archived_events")),
    )
    with op.batch_alter_table("archived_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_archived_events_archive_time", ["archive_id", "event_time"], unique=False
        )

    op.create_table(
        "event_replays",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("archive_id", sa.String(length=40), nullable=False),
        sa.Column(
            "event_start_time", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "event_end_time", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "rule_names",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("cursor", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("events_replayed", sa.Integer(), nullable=False),
        sa.Column(
            "event_last_replayed_time",
            mlgov.server.db.base.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["archive_id"],
            ["event_archives.id"],
            name=op.f("fk_event_replays_archive_id_event_archives"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_replays")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_event_replays_account_id_name")),
    )
    op.create_table(
        "event_targets",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("rule_id", sa.String(length=40), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column(
            "config",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column(
            "input",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("max_retry_attempts", sa.Integer(), nullable=False),
        sa.Column("max_event_age_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["event_rules.id"],
            name=op.f("fk_event_targets_rule_id_event_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_targets")),
        sa.UniqueConstraint(
            "rule_id", "target_id", name=op.f("uq_event_targets_rule_id_target_id")
        ),
    )
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bus_name", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_column("bus_name")

    op.drop_table("event_targets")
    op.drop_table("event_replays")
    with op.batch_alter_table("archived_events", schema=None) as batch_op:
        batch_op.drop_index("ix_archived_events_archive_time")

    op.drop_table("archived_events")
    with op.batch_alter_table("event_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_rules_account_id"))

    op.drop_table("event_rules")
    with op.batch_alter_table("event_bus_permissions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_bus_permissions_grantee_account_id"))

    op.drop_table("event_bus_permissions")
    op.drop_table("event_archives")
    op.drop_table("event_buses")
    with op.batch_alter_table("event_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_deliveries_event_id"))
        batch_op.drop_index("ix_event_deliveries_due")
        batch_op.drop_index("ix_event_deliveries_account_status")

    op.drop_table("event_deliveries")
