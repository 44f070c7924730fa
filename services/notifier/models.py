"""Notifier's table: one row per message it owes, recorded before sending (outbox), marked after."""

from __future__ import annotations

import sqlalchemy as sa

from shared.db import service_metadata

SCHEMA = "notifier"
metadata = service_metadata(SCHEMA)

notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),  # idempotency key: decision id + kind + medium
    sa.Column("decision_id", sa.Text, nullable=False, index=True),
    sa.Column("lead_id", sa.Text, nullable=False, index=True),
    sa.Column("medium", sa.Text, nullable=False),  # slack | email
    sa.Column("kind", sa.Text, nullable=False),  # assignment (later: reminder, escalation)
    sa.Column("status", sa.Text, nullable=False),  # pending | sent | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("provider_ref", sa.Text),  # Slack channel:ts, SMTP message id
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
)
