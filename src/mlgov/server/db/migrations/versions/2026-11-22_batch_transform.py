"""batch transform

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22 03:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mlgov.server.db.base

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "transform_jobs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("model", JSON, nullable=False),
        sa.Column("input", JSON, nullable=False),
        sa.Column("capture", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.Column("output_sha256", sa.String(length=64), nullable=True),
        sa.Column("output_size", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_transform_jobs_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transform_jobs")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_transform_jobs_account_id_name")),
    )
    op.create_index(
        "ix_transform_jobs_status_created", "transform_jobs", ["status", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_transform_jobs_status_created", table_name="transform_jobs")
    op.drop_table("transform_jobs")
