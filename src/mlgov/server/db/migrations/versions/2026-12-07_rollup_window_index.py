"""rollup window index covers the minute statistics

Alarm evaluation reads every metric's minute buckets of the last few minutes, and with the
statistics in the index it reads them from the index alone instead of looking up each row.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 00:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_WINDOW = ["resolution", "bucket", "metric_id", "sample_count", "sum", "minimum", "maximum"]


def upgrade() -> None:
    with op.batch_alter_table("metric_rollups") as batch_op:
        batch_op.drop_index("ix_metric_rollups_resolution_bucket")
        batch_op.create_index("ix_metric_rollups_window", _WINDOW, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("metric_rollups") as batch_op:
        batch_op.drop_index("ix_metric_rollups_window")
        batch_op.create_index(
            "ix_metric_rollups_resolution_bucket", ["resolution", "bucket"], unique=False
        )
