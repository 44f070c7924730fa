"""router: lead projection, decisions, rotation, applied events, outbox

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
S = "router"


def upgrade() -> None:
    op.create_table(
        "leads",
        sa.Column("lead_id", sa.Text, primary_key=True),
        sa.Column("company_key", sa.Text),
        sa.Column("total", sa.Float, nullable=False),
        sa.Column("fit", sa.Float, nullable=False),
        sa.Column("intent", sa.Float, nullable=False),
        sa.Column("reasons", JSONB, nullable=False),
        sa.Column("rank", sa.Text, nullable=False),
        sa.Column("temperature", sa.Text, nullable=False),
        sa.Column("stage", sa.Text, nullable=False),
        sa.Column("routed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("owner_rep_id", sa.Text),
        sa.Column("team_id", sa.Text),
        sa.Column("queue_id", sa.Text),
        sa.Column("decision_id", sa.Text),
        sa.Column("sla_kind", sa.Text),
        sa.Column("sla_due_at", sa.DateTime(timezone=True)),
        sa.Column("sla_status", sa.Text),
        sa.Column("why", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    op.create_index("ix_leads_company_key", "leads", ["company_key"], schema=S)
    op.create_index("ix_leads_owner_rep_id", "leads", ["owner_rep_id"], schema=S)
    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.Text, primary_key=True),
        sa.Column("lead_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("rep_id", sa.Text),
        sa.Column("team_id", sa.Text),
        sa.Column("queue_id", sa.Text),
        sa.Column("rule_id", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("trace", JSONB, nullable=False),
        sa.Column("sla_kind", sa.Text, nullable=False),
        sa.Column("sla_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    op.create_index("ix_decisions_lead_id", "decisions", ["lead_id"], schema=S)
    op.create_table(
        "rotation",
        sa.Column("team_id", sa.Text, primary_key=True),
        sa.Column("last_rep_id", sa.Text),
        sa.Column("current_weights", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=S,
    )
    op.create_table(
        "applied",
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=S,
    )
    create_outbox_table(op, S)


def downgrade() -> None:
    for table in ("outbox", "applied", "rotation", "decisions", "leads"):
        op.drop_table(table, schema=S)
