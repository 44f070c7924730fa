"""Notifier's queries: record what is owed, see what is still unsent, mark the outcome."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifier.models import notifications


async def record(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Record owed notifications as pending; an existing key (a redelivery) is left as it is."""
    if rows:
        stmt = insert(notifications).values(list(rows)).on_conflict_do_nothing(index_elements=["key"])
        await session.execute(stmt)


async def unsent(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    """Which of these keys still need sending (pending, never accepted by the provider)."""
    stmt = sa.select(notifications.c.key).where(notifications.c.key.in_(keys), notifications.c.status == "pending")
    return {row[0] for row in await session.execute(stmt)}


async def mark(
    session: AsyncSession, key: str, *, status: str, now: datetime, provider_ref: str | None = None,
    error: str | None = None,
) -> None:  # fmt: skip
    await session.execute(
        sa.update(notifications)
        .where(notifications.c.key == key)
        .values(
            status=status,
            attempts=notifications.c.attempts + 1,
            provider_ref=provider_ref,
            last_error=error,
            sent_at=now if status == "sent" else None,
        )
    )


async def of_lead(session: AsyncSession, lead_id: str) -> list[Any]:
    stmt = sa.select(notifications).where(notifications.c.lead_id == lead_id).order_by(notifications.c.created_at)
    return list(await session.execute(stmt))
