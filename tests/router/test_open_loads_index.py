"""The reps' loads, read by every batch that routes someone, come from a partial index of owned, open leads."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from services.router.domain.batch import OPEN_STAGES
from services.router.repository import open_loads, open_loads_query
from tests.router.conftest import RouterDb

pytestmark = pytest.mark.integration
MIGRATION = Path(__file__).resolve().parents[2] / "services/router/migrations/versions/0004_open_owner_index.py"


def test_the_index_predicate_names_the_stages_the_query_counts() -> None:
    # a query whose stages differ from the index's predicate cannot use it: a new open stage needs a new index
    spec = importlib.util.spec_from_file_location("open_owner_index", MIGRATION)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert tuple(module.OPEN) == OPEN_STAGES


async def test_the_loads_query_is_answered_from_the_open_owner_index(router_db: RouterDb) -> None:
    sql = str(open_loads_query().compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    async with router_db.sessions() as session:
        await session.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(row[0] for row in await session.execute(sa.text(f"EXPLAIN {sql}")))
    assert "leads_open_owner" in plan, plan


async def test_only_owned_open_leads_count(router_db: RouterDb) -> None:
    rows = [("a1", "rep_a", "mql"), ("a2", "rep_a", "won"), ("a3", "rep_a", "sal"), ("b1", "rep_b", "nurture"),
            ("c1", None, "mql")]  # fmt: skip
    async with router_db.sessions() as session:
        for lead_id, owner, stage in rows:
            await session.execute(
                sa.text(
                    "INSERT INTO router.leads (lead_id, total, fit, intent, reasons, rank, temperature, stage,"
                    " owner_rep_id, updated_at) VALUES (:id, 0, 0, 0, '[]', 'C', 'cold', :stage, :owner, now())"
                ),
                {"id": f"ld_loads_{lead_id}", "owner": owner, "stage": stage},
            )
        loads = await open_loads(session)
        await session.rollback()
    assert loads.get("rep_a") == 2
    assert "rep_b" not in loads
