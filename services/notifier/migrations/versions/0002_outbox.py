"""notifier: outbox for feedback events (Slack clicks) and dead letters (refused notifications)

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from shared.outbox import create_outbox_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
S = "notifier"


def upgrade() -> None:
    create_outbox_table(op, S)


def downgrade() -> None:
    op.drop_table("outbox", schema=S)
