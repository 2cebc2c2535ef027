"""transactional outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 01:26:29.618649
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mlgov.server.db.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_events",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=256), nullable=False),
        sa.Column("detail_type", sa.String(length=256), nullable=False),
        sa.Column("event_time", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("dispatched_at", mlgov.server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_outbox_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_events_event_id")),
    )
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_events_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            "ix_outbox_events_pending", ["dispatched_at", "position"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_events_pending")
        batch_op.drop_index(batch_op.f("ix_outbox_events_account_id"))

    op.drop_table("outbox_events")
