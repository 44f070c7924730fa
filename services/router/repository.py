"""Router's queries: lead projection, ownership, loads, rotation (locked per team), decisions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.domain import RotationState
from services.router.models import applied, decisions, leads, rotation

OPEN_STAGES = ("lead", "mql", "tql", "sal", "sql", "opportunity")


async def mark_applied(session: AsyncSession, event_id: str) -> bool:
    """Record that a scored event was applied; False when it already was (a redelivery)."""
    stmt = insert(applied).values(event_id=event_id).on_conflict_do_nothing().returning(applied.c.event_id)
    return (await session.execute(stmt)).first() is not None


async def lead_row(session: AsyncSession, lead_id: str, *, lock: bool = False) -> Any | None:
    stmt = sa.select(leads).where(leads.c.lead_id == lead_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).first()


async def upsert_projection(session: AsyncSession, values: Mapping[str, Any]) -> None:
    """Keep the lead's score, rank and stage current; ownership columns are only written by ``set_owner``."""
    stmt = insert(leads).values(**values)
    update = {k: stmt.excluded[k] for k in values if k != "lead_id"}
    await session.execute(stmt.on_conflict_do_update(index_elements=["lead_id"], set_=update))


async def set_owner(session: AsyncSession, lead_id: str, values: Mapping[str, Any]) -> None:
    await session.execute(sa.update(leads).where(leads.c.lead_id == lead_id).values(**values))


async def account_owner(session: AsyncSession, company_key: str | None, lead_id: str) -> str | None:
    """The rep who owns another open lead of the same account, most recently routed first."""
    if not company_key:
        return None
    stmt = (
        sa.select(leads.c.owner_rep_id)
        .where(
            leads.c.company_key == company_key,
            leads.c.lead_id != lead_id,
            leads.c.owner_rep_id.is_not(None),
            leads.c.stage.in_(OPEN_STAGES),
        )
        .order_by(leads.c.updated_at.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def open_loads(session: AsyncSession) -> dict[str, int]:
    """Open leads per rep, the capacity measure."""
    stmt = (
        sa.select(leads.c.owner_rep_id, sa.func.count())
        .where(leads.c.owner_rep_id.is_not(None), leads.c.stage.in_(OPEN_STAGES))
        .group_by(leads.c.owner_rep_id)
    )
    return {rep: count for rep, count in await session.execute(stmt)}


async def lock_rotation(session: AsyncSession, team_id: str) -> RotationState:
    """The team's rotation, row-locked until commit so several router instances take strict turns."""
    await session.execute(insert(rotation).values(team_id=team_id).on_conflict_do_nothing())
    row = (await session.execute(sa.select(rotation).where(rotation.c.team_id == team_id).with_for_update())).one()
    return RotationState(team_id=team_id, last_rep_id=row.last_rep_id, current_weights=dict(row.current_weights))


async def save_rotation(session: AsyncSession, state: RotationState, now: datetime) -> None:
    await session.execute(
        sa.update(rotation)
        .where(rotation.c.team_id == state.team_id)
        .values(last_rep_id=state.last_rep_id, current_weights=dict(state.current_weights), updated_at=now)
    )


async def add_decision(session: AsyncSession, values: Mapping[str, Any]) -> None:
    await session.execute(insert(decisions).values(**values).on_conflict_do_nothing())
