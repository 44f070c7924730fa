"""scoring: lead events, lead state, stage history, outbox

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from shared.outbox import create_outbox_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
S = "scoring"


def upgrade() -> None:
    op.create_table(
        "lead_events",
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("lead_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=S,
    )
    op.create_index("ix_lead_events_lead_id", "lead_events", ["lead_id"], schema=S)
    op.create_table(
        "leads",
        sa.Column("lead_id", sa.Text, primary_key=True),
        sa.Column("person", JSONB),
        sa.Column("fit", sa.Float, nullable=False),
        sa.Column("intent", sa.Float, nullable=False),
        sa.Column("total", sa.Float, nullable=False),
        sa.Column("rank", sa.Text, nullable=False),
        sa.Column("temperature", sa.Text, nullable=False),
        sa.Column("stage", sa.Text, nullable=False),
        sa.Column("bant", JSONB, nullable=False),
        sa.Column("reasons", JSONB, nullable=False),
        sa.Column("model_version", sa.Text, nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    op.create_table(
        "stage_history",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("lead_id", sa.Text, nullable=False),
        sa.Column("from_stage", sa.Text, nullable=False),
        sa.Column("to_stage", sa.Text, nullable=False),
        sa.Column("event_id", sa.Text),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    op.create_index("ix_stage_history_lead_id", "stage_history", ["lead_id"], schema=S)
    create_outbox_table(op, S)


def downgrade() -> None:
    for table in ("outbox", "stage_history", "leads", "lead_events"):
        op.drop_table(table, schema=S)
