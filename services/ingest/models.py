"""Ingest's tables, in its own schema: idempotency answers, accepted event ids, HubSpot contact identities.

Nothing here holds personal data: events are known by id, leads by their opaque ``lead_id``.
"""

from __future__ import annotations

import sqlalchemy as sa

from shared.db import service_metadata

SCHEMA = "ingest"
metadata = service_metadata(SCHEMA)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("scope", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("response", sa.JSON, nullable=False),  # JSON, not JSONB: the replay keeps the key order
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

accepted_events = sa.Table(
    "accepted_events",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("lead_id", sa.Text, nullable=False),
    sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

hubspot_contacts = sa.Table(
    "hubspot_contacts",
    metadata,
    sa.Column("portal_id", sa.BigInteger, primary_key=True),
    sa.Column("object_id", sa.BigInteger, primary_key=True),
    sa.Column("lead_id", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
