"""router: runtime rep overrides, durable SLA timers, decision snapshots, rejections and follow-ups

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
S = "router"


def upgrade() -> None:
    op.add_column(
        "leads",
        sa.Column("excluded_rep_ids", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        schema=S,
    )
    op.add_column("leads", sa.Column("follow_up_attempts", sa.Integer, nullable=False, server_default="0"), schema=S)
    op.add_column("leads", sa.Column("first_contact_at", sa.DateTime(timezone=True)), schema=S)
    op.add_column("decisions", sa.Column("lead", JSONB), schema=S)
    op.create_index("ix_decisions_decided_at", "decisions", ["decided_at"], schema=S)
    op.create_table(
        "rep_overrides",
        sa.Column("rep_id", sa.Text, primary_key=True),
        sa.Column("active", sa.Boolean),
        sa.Column("capacity", sa.Integer),
        sa.Column("out_of_office", JSONB),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=S,
    )
    op.create_table(
        "sla_timers",
        sa.Column("timer_id", sa.Text, primary_key=True),
        sa.Column("decision_id", sa.Text, nullable=False),
        sa.Column("lead_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("fraction", sa.Float),
        sa.Column("fire_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("fired_at", sa.DateTime(timezone=True)),
        sa.Column("error", sa.Text),
        schema=S,
    )
    op.create_index("ix_sla_timers_decision_id", "sla_timers", ["decision_id"], schema=S)
    # The ticker's query: pending timers by due time; a partial index stays small as timers fire.
    op.create_index(
        "ix_sla_timers_pending",
        "sla_timers",
        ["fire_at"],
        schema=S,
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_table("sla_timers", schema=S)
    op.drop_table("rep_overrides", schema=S)
    op.drop_index("ix_decisions_decided_at", "decisions", schema=S)
    op.drop_column("decisions", "lead", schema=S)
    for column in ("first_contact_at", "follow_up_attempts", "excluded_rep_ids"):
        op.drop_column("leads", column, schema=S)
