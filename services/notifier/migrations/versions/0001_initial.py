"""notifier: notifications (record before send, mark after)

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
S = "notifier"


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("decision_id", sa.Text, nullable=False),
        sa.Column("lead_id", sa.Text, nullable=False),
        sa.Column("medium", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("provider_ref", sa.Text),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        schema=S,
    )
    op.create_index("ix_notifications_decision_id", "notifications", ["decision_id"], schema=S)
    op.create_index("ix_notifications_lead_id", "notifications", ["lead_id"], schema=S)


def downgrade() -> None:
    op.drop_table("notifications", schema=S)
