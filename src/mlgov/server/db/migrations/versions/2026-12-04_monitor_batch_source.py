"""monitor batch source

A monitor watches an endpoint or a batch transform job: ``endpoint_name`` may be NULL when
``transform_job_name`` is set, and exactly one of them is.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 00:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("monitors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("transform_job_name", sa.String(length=63), nullable=True))
        batch_op.alter_column("endpoint_name", existing_type=sa.String(length=63), nullable=True)
        batch_op.create_check_constraint(
            op.f("ck_monitors_exactly_one_source"),
            "(endpoint_name IS NULL) <> (transform_job_name IS NULL)",
        )


def downgrade() -> None:
    # Monitors on transform jobs cannot exist before this revision: they go, with their runs.
    op.execute(
        "DELETE FROM monitoring_executions WHERE monitor_id IN "
        "(SELECT id FROM monitors WHERE transform_job_name IS NOT NULL)"
    )
    op.execute("DELETE FROM monitors WHERE transform_job_name IS NOT NULL")
    with op.batch_alter_table("monitors", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_monitors_exactly_one_source"), type_="check")
        batch_op.alter_column("endpoint_name", existing_type=sa.String(length=63), nullable=False)
        batch_op.drop_column("transform_job_name")
