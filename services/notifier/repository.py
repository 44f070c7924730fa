"""Notifier's queries: record what is owed, see what is still unsent, mark the outcome."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifier.models import notifications
from shared.bulk import any_text, insert_new_statement

_RECORDED = ("key", "decision_id", "lead_id", "medium", "kind", "status")
# One prepared statement for any batch: a multi-row VALUES list was compiled again for every batch size (py-spy
# on a notifier drain: SQLAlchemy's compiler was ~15 % of its samples).
_RECORD = insert_new_statement(notifications, _RECORDED, key="key")


async def record(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Record owed notifications as pending; an existing key (a redelivery) is left as it is."""
    if rows:
        await session.execute(_RECORD, {name: [row[name] for row in rows] for name in _RECORDED})


@dataclass(frozen=True)
class Unsent:
    """A notification not yet known to be accepted: ``sending`` means an attempt may have reached the provider."""

    key: str
    status: str
    created_at: datetime


async def unsent(session: AsyncSession, keys: Sequence[str]) -> dict[str, Unsent]:
    """Which of these keys still need sending (pending, or sending with an unknown outcome)."""
    stmt = sa.select(notifications.c.key, notifications.c.status, notifications.c.created_at).where(
        any_text(notifications.c.key, keys), notifications.c.status.in_(("pending", "sending"))
    )
    return {row.key: Unsent(row.key, row.status, row.created_at) for row in await session.execute(stmt)}


async def mark_sending(session: AsyncSession, keys: Sequence[str]) -> None:
    """Note that attempts are about to reach the provider: after a crash, their outcome must be checked."""
    if not keys:
        return
    await session.execute(
        sa.update(notifications)
        .where(any_text(notifications.c.key, keys), notifications.c.status.in_(("pending", "sending")))
        .values(status="sending", attempts=notifications.c.attempts + 1)
    )


async def mark_sent(session: AsyncSession, refs: Sequence[tuple[str, str]], now: datetime) -> None:
    """Record many accepted messages at once: (key, provider reference) pairs, one statement."""
    if not refs:
        return
    accepted = sa.select(
        sa.func.unnest(sa.literal([k for k, _ in refs], ARRAY(sa.Text))).label("key"),
        sa.func.unnest(sa.literal([r for _, r in refs], ARRAY(sa.Text))).label("ref"),
    ).subquery()
    await session.execute(
        sa.update(notifications)
        .where(notifications.c.key == accepted.c.key)
        .values(status="sent", provider_ref=accepted.c.ref, last_error=None, sent_at=now)
    )


async def mark(
    session: AsyncSession, key: str, *, status: str, now: datetime, provider_ref: str | None = None,
    error: str | None = None,
) -> None:  # fmt: skip
    """Record the outcome the provider gave (sent with its reference, or failed with the error)."""
    await session.execute(
        sa.update(notifications)
        .where(notifications.c.key == key)
        .values(
            status=status,
            provider_ref=provider_ref,
            last_error=error,
            sent_at=now if status == "sent" else None,
        )
    )


async def of_lead(session: AsyncSession, lead_id: str) -> list[Any]:
    """Every notification owed for a lead, oldest first."""
    stmt = sa.select(notifications).where(notifications.c.lead_id == lead_id).order_by(notifications.c.created_at)
    return list(await session.execute(stmt))
