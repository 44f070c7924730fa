"""router: SLA clocks started on an existing decision (the SQL first-proposal clock) carry their own kind,
deadline and lead snapshot

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
S = "router"


def upgrade() -> None:
    # NULL on every existing timer: it is its decision's own clock, read from the decision as before.
    op.add_column("sla_timers", sa.Column("sla_kind", sa.Text), schema=S)
    op.add_column("sla_timers", sa.Column("due_at", sa.DateTime(timezone=True)), schema=S)
    op.add_column("sla_timers", sa.Column("lead", JSONB), schema=S)


def downgrade() -> None:
    for column in ("lead", "due_at", "sla_kind"):
        op.drop_column("sla_timers", column, schema=S)
