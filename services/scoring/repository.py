"""Scoring's queries. Bulk statements over lists: one round trip per step of a batch, never one per row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.models import lead_events, leads, stage_history
from shared.events import LeadEvent


async def insert_new_events(session: AsyncSession, events: Sequence[LeadEvent]) -> set[str]:
    """Store events not seen before; returns the ids that were new (a redelivery returns none)."""
    if not events:
        return set()
    rows = [
        {
            "event_id": e.event_id,
            "lead_id": e.lead_id,
            "kind": e.kind.value,
            "occurred_at": e.occurred_at,
            "payload": e.model_dump(mode="json"),
        }
        for e in {e.event_id: e for e in events}.values()
    ]
    stmt = insert(lead_events).values(rows).on_conflict_do_nothing(index_elements=["event_id"])
    result = await session.execute(stmt.returning(lead_events.c.event_id))
    return {row[0] for row in result}


async def events_of(session: AsyncSession, lead_ids: Sequence[str]) -> dict[str, list[LeadEvent]]:
    """Every stored event of these leads."""
    result = await session.execute(
        sa.select(lead_events.c.lead_id, lead_events.c.payload).where(lead_events.c.lead_id.in_(lead_ids))
    )
    out: dict[str, list[LeadEvent]] = defaultdict(list)
    for lead_id, payload in result:
        out[lead_id].append(LeadEvent.model_validate(payload))
    return out


async def lead_rows(session: AsyncSession, lead_ids: Sequence[str], *, lock: bool = True) -> dict[str, Any]:
    """Current state of these leads; locked so two instances never interleave one lead's update."""
    stmt = sa.select(leads).where(leads.c.lead_id.in_(lead_ids))
    if lock:
        stmt = stmt.with_for_update()
    return {row.lead_id: row for row in await session.execute(stmt)}


async def upsert_leads(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    stmt = insert(leads).values(list(rows))
    updated = {c.name: stmt.excluded[c.name] for c in leads.columns if c.name != "lead_id"}
    await session.execute(stmt.on_conflict_do_update(index_elements=["lead_id"], set_=updated))


async def add_stage_history(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(sa.insert(stage_history).values(list(rows)))


async def get_lead(session: AsyncSession, lead_id: str) -> Any | None:
    return (await session.execute(sa.select(leads).where(leads.c.lead_id == lead_id))).first()


async def stage_history_of(session: AsyncSession, lead_id: str) -> list[Any]:
    stmt = sa.select(stage_history).where(stage_history.c.lead_id == lead_id).order_by(stage_history.c.id)
    return list(await session.execute(stmt))
