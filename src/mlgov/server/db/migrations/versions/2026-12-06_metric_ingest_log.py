"""metric ingest log

Accepted PutMetricData batches wait here until they are folded into the rollups in bulk.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 00:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_ingest_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("datapoints", sa.Integer(), nullable=False),
        sa.Column("datums", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_ingest_log")),
    )


def downgrade() -> None:
    op.drop_table("metric_ingest_log")
