"""outbox events without an account index

No query reads the outbox by account: the dispatcher claims events in order and purges them by
dispatch time, both through ``ix_outbox_events_pending``. The account index only cost every
event's insert (about 7 % of an alarm round's outbox insert).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 00:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_events") as batch_op:
        batch_op.drop_index("ix_outbox_events_account_id")


def downgrade() -> None:
    with op.batch_alter_table("outbox_events") as batch_op:
        batch_op.create_index("ix_outbox_events_account_id", ["account_id"], unique=False)
