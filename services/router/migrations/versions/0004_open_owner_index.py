"""router: a partial index of owned, open leads, so the reps' loads (read by every batch that routes) come from
the open leads alone instead of a scan of every lead ever routed

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
S = "router"
# The router's open stages when this index was made (services/router/domain/batch.py OPEN_STAGES; a test holds
# the two equal: a query whose stages differ from the index's predicate cannot use it).
OPEN = ("lead", "mql", "tql", "sal", "sql", "opportunity")


def upgrade() -> None:
    stages = ", ".join(f"'{stage}'" for stage in OPEN)
    # CONCURRENTLY: a large leads table keeps taking writes while the index is built (outside a transaction).
    with op.get_context().autocommit_block():
        op.create_index(
            "leads_open_owner",
            "leads",
            ["owner_rep_id"],
            schema=S,
            postgresql_where=sa.text(f"owner_rep_id IS NOT NULL AND stage IN ({stages})"),
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("leads_open_owner", "leads", schema=S, postgresql_concurrently=True, if_exists=True)
