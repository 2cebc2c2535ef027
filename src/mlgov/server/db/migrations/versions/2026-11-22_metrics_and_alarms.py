"""metrics and alarms

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 02:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mlgov.server.db.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alarm_history",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("alarm_name", sa.String(length=255), nullable=False),
        sa.Column("item_type", sa.String(length=32), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("timestamp", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_history")),
    )
    with op.batch_alter_table("alarm_history", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alarm_history_account_alarm", ["account_id", "alarm_name", "id"], unique=False
        )
        batch_op.create_index("ix_alarm_history_timestamp", ["timestamp"], unique=False)

    op.create_table(
        "alarms",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("namespace", sa.String(length=255), nullable=True),
        sa.Column("metric_name", sa.String(length=255), nullable=True),
        sa.Column(
            "dimensions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("series_hash", sa.String(length=64), nullable=True),
        sa.Column("unit", sa.String(length=32), nullable=True),
        sa.Column("statistic", sa.String(length=16), nullable=True),
        sa.Column("extended_statistic", sa.String(length=24), nullable=True),
        sa.Column("period", sa.Integer(), nullable=True),
        sa.Column("evaluation_periods", sa.Integer(), nullable=True),
        sa.Column("datapoints_to_alarm", sa.Integer(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("comparison_operator", sa.String(length=40), nullable=True),
        sa.Column("treat_missing_data", sa.String(length=16), nullable=True),
        sa.Column("alarm_rule", sa.Text(), nullable=True),
        sa.Column("actions_enabled", sa.Boolean(), nullable=False),
        sa.Column(
            "alarm_actions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "ok_actions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "insufficient_data_actions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("state_value", sa.String(length=24), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=False),
        sa.Column("state_reason_data", sa.Text(), nullable=True),
        sa.Column(
            "state_updated_at", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_alarms_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarms")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_alarms_account_id_name")),
    )
    op.create_table(
        "metrics",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("namespace", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column(
            "dimensions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("series_hash", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_timestamp", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_metrics_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metrics")),
        sa.UniqueConstraint(
            "account_id", "series_hash", "unit", name=op.f("uq_metrics_account_id_series_hash_unit")
        ),
    )
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.create_index(
            "ix_metrics_account_namespace_name", ["account_id", "namespace", "name"], unique=False
        )

    op.create_table(
        "metric_rollups",
        sa.Column(
            "metric_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("resolution", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("sample_count", sa.Float(), nullable=False),
        sa.Column("sum", sa.Float(), nullable=False),
        sa.Column("minimum", sa.Float(), nullable=False),
        sa.Column("maximum", sa.Float(), nullable=False),
        sa.Column("sketch", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["metric_id"],
            ["metrics.id"],
            name=op.f("fk_metric_rollups_metric_id_metrics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "metric_id", "resolution", "bucket", name=op.f("pk_metric_rollups")
        ),
    )
    with op.batch_alter_table("metric_rollups", schema=None) as batch_op:
        batch_op.create_index(
            "ix_metric_rollups_resolution_bucket", ["resolution", "bucket"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("metric_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_metric_rollups_resolution_bucket")

    op.drop_table("metric_rollups")
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.drop_index("ix_metrics_account_namespace_name")

    op.drop_table("metrics")
    op.drop_table("alarms")
    with op.batch_alter_table("alarm_history", schema=None) as batch_op:
        batch_op.drop_index("ix_alarm_history_timestamp")
        batch_op.drop_index("ix_alarm_history_account_alarm")

    op.drop_table("alarm_history")
