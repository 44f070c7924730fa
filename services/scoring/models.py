"""Scoring's tables, in its own schema: every event applied, each lead's current state, stage history."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from shared.db import service_metadata
from shared.outbox import outbox_table

SCHEMA = "scoring"
metadata = service_metadata(SCHEMA)

lead_events = sa.Table(
    "lead_events",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("lead_id", sa.Text, nullable=False, index=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("payload", JSONB, nullable=False),
    sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

leads = sa.Table(
    "leads",
    metadata,
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
    sa.Index("ix_leads_model_version", "model_version", "lead_id"),
)

stage_history = sa.Table(
    "stage_history",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("lead_id", sa.Text, nullable=False, index=True),
    sa.Column("from_stage", sa.Text, nullable=False),
    sa.Column("to_stage", sa.Text, nullable=False),
    sa.Column("event_id", sa.Text),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

# Background rescoring and re-evaluation runs: progress is written with each batch, in its transaction, so
# any instance (and `leadflow scoring rescore`) can report a job, and a crash leaves a truthful count.
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("job_id", sa.Text, primary_key=True),
    sa.Column("cause", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("model_version", sa.Text, nullable=False),
    sa.Column("scanned", sa.Integer, nullable=False, server_default="0"),
    sa.Column("changed_rank", sa.Integer, nullable=False, server_default="0"),
    sa.Column("changed_stage", sa.Integer, nullable=False, server_default="0"),
    sa.Column("changed_rank_or_stage", sa.Integer, nullable=False, server_default="0"),
    sa.Column("changed_temperature", sa.Integer, nullable=False, server_default="0"),
    sa.Column("went_down", sa.Integer, nullable=False, server_default="0"),
    sa.Column("published", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", sa.Text),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
)

outbox = outbox_table(metadata)
