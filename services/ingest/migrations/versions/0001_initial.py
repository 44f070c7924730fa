"""ingest: idempotency answers, accepted event ids, HubSpot contact identities

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
S = "ingest"


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("response", sa.JSON, nullable=False),  # JSON, not JSONB: the replay keeps the key order
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"], schema=S)
    op.create_table(
        "accepted_events",
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("lead_id", sa.Text, nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    op.create_index("ix_accepted_events_accepted_at", "accepted_events", ["accepted_at"], schema=S)
    op.create_table(
        "hubspot_contacts",
        sa.Column("portal_id", sa.BigInteger, primary_key=True),
        sa.Column("object_id", sa.BigInteger, primary_key=True),
        sa.Column("lead_id", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )


def downgrade() -> None:
    for table in ("hubspot_contacts", "accepted_events", "idempotency_keys"):
        op.drop_table(table, schema=S)
