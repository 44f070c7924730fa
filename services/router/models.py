"""Router's tables, in its own schema: lead projection with owner and SLA, decisions, rotation state."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from services.router.domain.batch import OPEN_STAGES
from shared.db import service_metadata
from shared.outbox import outbox_table

SCHEMA = "router"
metadata = service_metadata(SCHEMA)

leads = sa.Table(
    "leads",
    metadata,
    sa.Column("lead_id", sa.Text, primary_key=True),
    sa.Column("company_key", sa.Text, index=True),
    sa.Column("total", sa.Float, nullable=False),
    sa.Column("fit", sa.Float, nullable=False),
    sa.Column("intent", sa.Float, nullable=False),
    sa.Column("reasons", JSONB, nullable=False),
    sa.Column("rank", sa.Text, nullable=False),
    sa.Column("temperature", sa.Text, nullable=False),
    sa.Column("stage", sa.Text, nullable=False),
    sa.Column("routed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("owner_rep_id", sa.Text, index=True),
    sa.Column("team_id", sa.Text),
    sa.Column("queue_id", sa.Text),
    sa.Column("decision_id", sa.Text),
    sa.Column("sla_kind", sa.Text),
    sa.Column("sla_due_at", sa.DateTime(timezone=True)),
    sa.Column("sla_status", sa.Text),
    sa.Column("why", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # Reps who rejected this lead or let its SLA lapse: never offered it again.
    sa.Column("excluded_rep_ids", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("follow_up_attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("first_contact_at", sa.DateTime(timezone=True)),
)

# Owned, open leads only: the reps' loads (repository.open_loads, read by every batch that routes someone) are
# counted from these instead of every lead ever routed (at 500,000 leads: ~50 ms a batch → ~1.5 ms).
sa.Index(
    "leads_open_owner",
    leads.c.owner_rep_id,
    postgresql_where=sa.and_(leads.c.owner_rep_id.is_not(None), leads.c.stage.in_(OPEN_STAGES)),
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("decision_id", sa.Text, primary_key=True),
    sa.Column("lead_id", sa.Text, nullable=False, index=True),
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
    # The LeadScored the decision was made from: reassignment and `leadflow routing simulate` replay it.
    sa.Column("lead", JSONB),
)

rotation = sa.Table(
    "rotation",
    metadata,
    sa.Column("team_id", sa.Text, primary_key=True),
    sa.Column("last_rep_id", sa.Text),
    sa.Column("current_weights", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

applied = sa.Table(
    "applied",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

rep_overrides = sa.Table(
    "rep_overrides",
    metadata,
    sa.Column("rep_id", sa.Text, primary_key=True),
    sa.Column("active", sa.Boolean),
    sa.Column("capacity", sa.Integer),
    sa.Column("out_of_office", JSONB),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# One row per reminder and per breach of each decision; any live router instance fires each once.
sla_timers = sa.Table(
    "sla_timers",
    metadata,
    sa.Column("timer_id", sa.Text, primary_key=True),
    sa.Column("decision_id", sa.Text, nullable=False, index=True),
    sa.Column("lead_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("fraction", sa.Float),
    sa.Column("fire_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="pending"),
    sa.Column("fired_at", sa.DateTime(timezone=True)),
    sa.Column("error", sa.Text),
    # Set only for a clock started on an existing decision (SQL first proposal); NULL: the decision's own.
    sa.Column("sla_kind", sa.Text),
    sa.Column("due_at", sa.DateTime(timezone=True)),
    sa.Column("lead", JSONB),
)

outbox = outbox_table(metadata)
