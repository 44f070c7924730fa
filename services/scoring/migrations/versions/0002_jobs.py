"""scoring: background rescoring / re-evaluation jobs; an index for the model-version scan

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
S = "scoring"


def upgrade() -> None:
    op.create_table(
        "jobs",
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
        schema=S,
    )
    # a rescore looks for leads scored by another model version; without this it reads the whole table per page
    op.create_index("ix_leads_model_version", "leads", ["model_version", "lead_id"], schema=S)


def downgrade() -> None:
    op.drop_index("ix_leads_model_version", "leads", schema=S)
    op.drop_table("jobs", schema=S)
