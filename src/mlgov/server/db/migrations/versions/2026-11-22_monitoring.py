"""monitoring

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 03:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mlgov.server.db.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time() -> mlgov.server.db.base.UTCDateTime:
    return mlgov.server.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "monitoring_baselines",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("dataset", sa.Text(), nullable=True),
        sa.Column("settings", _json(), nullable=False),
        sa.Column("files", _json(), nullable=False),
        sa.Column("summary", _json(), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_monitoring_baselines_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_baselines")),
        sa.UniqueConstraint(
            "account_id", "name", name=op.f("uq_monitoring_baselines_account_id_name")
        ),
    )
    op.create_table(
        "monitors",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("endpoint_name", sa.String(length=63), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("baseline_id", sa.String(length=40), nullable=True),
        sa.Column("settings", _json(), nullable=False),
        sa.Column("schedule", sa.String(length=256), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("next_run_at", _time(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_monitors_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["baseline_id"],
            ["monitoring_baselines.id"],
            name=op.f("fk_monitors_baseline_id_monitoring_baselines"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitors")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_monitors_account_id_name")),
    )
    op.create_index("ix_monitors_due", "monitors", ["status", "next_run_at"], unique=False)
    op.create_table(
        "monitoring_executions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("monitor_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("window_start", _time(), nullable=False),
        sa.Column("window_end", _time(), nullable=False),
        sa.Column("scheduled_at", _time(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("started_at", _time(), nullable=True),
        sa.Column("ended_at", _time(), nullable=True),
        sa.Column("lease_until", _time(), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("violation_count", sa.Integer(), nullable=False),
        sa.Column("reports", _json(), nullable=False),
        sa.Column("summary", _json(), nullable=False),
        sa.Column("requested_by", sa.String(length=256), nullable=True),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name=op.f("fk_monitoring_executions_monitor_id_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_executions")),
    )
    op.create_index(
        "ix_monitoring_executions_status",
        "monitoring_executions",
        ["status", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_monitoring_executions_monitor",
        "monitoring_executions",
        ["monitor_id", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_monitoring_executions_monitor", table_name="monitoring_executions")
    op.drop_index("ix_monitoring_executions_status", table_name="monitoring_executions")
    op.drop_table("monitoring_executions")
    op.drop_index("ix_monitors_due", table_name="monitors")
    op.drop_table("monitors")
    op.drop_table("monitoring_baselines")
