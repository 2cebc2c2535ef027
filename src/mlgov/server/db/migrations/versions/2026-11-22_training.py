"""training jobs

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 03:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mlgov.server.db.base

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time() -> mlgov.server.db.base.UTCDateTime:
    return mlgov.server.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "training_jobs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("entrypoint", _json(), nullable=False),
        sa.Column("training_data", _json(), nullable=False),
        sa.Column("evaluation_data", _json(), nullable=True),
        sa.Column("hyperparameters", _json(), nullable=False),
        sa.Column("environment", _json(), nullable=False),
        sa.Column("model_group", sa.String(length=63), nullable=False),
        sa.Column("flavor", sa.String(length=32), nullable=False),
        sa.Column("model_file", sa.String(length=255), nullable=True),
        sa.Column("comparison_config", _json(), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("triggered_by_event", sa.String(length=64), nullable=True),
        sa.Column("trigger_key", sa.String(length=160), nullable=True),
        sa.Column("stop_requested", sa.Boolean(), nullable=False),
        sa.Column("lease_expires_at", _time(), nullable=True),
        sa.Column("datasets", _json(), nullable=False),
        sa.Column("metrics", _json(), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("stdout_sha256", sa.String(length=64), nullable=True),
        sa.Column("stderr_sha256", sa.String(length=64), nullable=True),
        sa.Column("comparison_status", sa.String(length=16), nullable=False),
        sa.Column("comparison_sha256", sa.String(length=64), nullable=True),
        sa.Column("comparison_summary", _json(), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("started_at", _time(), nullable=True),
        sa.Column("finished_at", _time(), nullable=True),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_training_jobs_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_jobs")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_training_jobs_account_id_name")),
        sa.UniqueConstraint(
            "account_id", "trigger_key", name=op.f("uq_training_jobs_account_id_trigger_key")
        ),
    )
    op.create_index(
        "ix_training_jobs_status_created", "training_jobs", ["status", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_training_jobs_status_created", table_name="training_jobs")
    op.drop_table("training_jobs")
