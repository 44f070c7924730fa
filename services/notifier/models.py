"""Notifier's tables: one row per message it owes (recorded before sending, marked after), and the outbox of
the feedback events and dead letters it publishes."""

from __future__ import annotations

import sqlalchemy as sa

from shared.db import service_metadata
from shared.outbox import outbox_table

SCHEMA = "notifier"
metadata = service_metadata(SCHEMA)

notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),  # idempotency key: decision id + kind + medium
    sa.Column("decision_id", sa.Text, nullable=False, index=True),
    sa.Column("lead_id", sa.Text, nullable=False, index=True),
    sa.Column("medium", sa.Text, nullable=False),  # slack | email
    sa.Column("kind", sa.Text, nullable=False),  # assignment | reminder | escalation | thank_you
    sa.Column("status", sa.Text, nullable=False),  # pending | sending | sent | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("provider_ref", sa.Text),  # Slack channel:ts, SMTP message id
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
)

outbox = outbox_table(metadata)
