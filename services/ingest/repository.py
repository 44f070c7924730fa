"""Ingest's queries: bulk statements over lists, one round trip per step, never one per event."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import accepted_events, hubspot_contacts, idempotency_keys
from shared.events import LeadEvent


@dataclass(frozen=True)
class StoredAnswer:
    """The first answer given for an Idempotency-Key."""

    request_hash: str
    status: int
    body: dict[str, Any]


async def stored_answer(session: AsyncSession, scope: str, key: str, since: datetime) -> StoredAnswer | None:
    """The answer recorded for this key within the window, if any."""
    row = (
        await session.execute(
            sa.select(idempotency_keys.c.request_hash, idempotency_keys.c.status, idempotency_keys.c.response).where(
                idempotency_keys.c.scope == scope,
                idempotency_keys.c.key == key,
                idempotency_keys.c.created_at >= since,
            )
        )
    ).first()
    return StoredAnswer(row.request_hash, row.status, row.response) if row else None


async def record_answer(
    session: AsyncSession, scope: str, key: str, answer: StoredAnswer, *, now: datetime, since: datetime
) -> StoredAnswer:
    """Keep the first answer for a key; when a concurrent request won the race, return its answer instead."""
    stmt = insert(idempotency_keys).values(
        scope=scope,
        key=key,
        request_hash=answer.request_hash,
        status=answer.status,
        response=answer.body,
        created_at=now,
    )
    # An expired row is replaced; a live one is kept: the first answer wins.
    stmt = stmt.on_conflict_do_update(
        index_elements=["scope", "key"],
        set_={c: stmt.excluded[c] for c in ("request_hash", "status", "response", "created_at")},
        where=idempotency_keys.c.created_at < since,
    )
    written = (await session.execute(stmt.returning(idempotency_keys.c.key))).first()
    if written is not None:
        return answer
    first = await stored_answer(session, scope, key, since)
    return first or answer


async def accepted_since(session: AsyncSession, event_ids: Sequence[str], since: datetime) -> dict[str, datetime]:
    """When each of these event ids was accepted (durably published), for those accepted since ``since``."""
    if not event_ids:
        return {}
    result = await session.execute(
        sa.select(accepted_events.c.event_id, accepted_events.c.accepted_at).where(
            accepted_events.c.event_id.in_(list(set(event_ids))), accepted_events.c.accepted_at >= since
        )
    )
    return {row[0]: row[1] for row in result}


async def mark_accepted(session: AsyncSession, accepted: Sequence[tuple[LeadEvent, datetime]]) -> None:
    """Remember published event ids with when they were accepted, so a repeat within the window publishes nothing."""
    if not accepted:
        return
    latest: dict[str, dict[str, Any]] = {}
    for event, at in accepted:
        row = latest.get(event.event_id)
        if row is None or at > row["accepted_at"]:
            latest[event.event_id] = {"event_id": event.event_id, "lead_id": event.lead_id, "accepted_at": at}
    stmt = insert(accepted_events)
    # executemany form: one cached compiled statement, not a new multi-VALUES statement compiled per batch size
    # (those filled SQLAlchemy's statement cache and cost CPU and memory on every request)
    await session.execute(
        stmt.on_conflict_do_update(index_elements=["event_id"], set_={"accepted_at": stmt.excluded.accepted_at}),
        list(latest.values()),
    )


async def purge_expired(session: AsyncSession, before: datetime) -> int:
    """Forget answers and event ids older than the window; returns how many rows went."""
    keys = await session.execute(sa.delete(idempotency_keys).where(idempotency_keys.c.created_at < before))
    events = await session.execute(sa.delete(accepted_events).where(accepted_events.c.accepted_at < before))
    return int(getattr(keys, "rowcount", 0) or 0) + int(getattr(events, "rowcount", 0) or 0)


async def hubspot_leads(session: AsyncSession, portal_objects: Sequence[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """lead_id of HubSpot contacts seen before, by (portal id, object id)."""
    if not portal_objects:
        return {}
    pairs = list(set(portal_objects))
    result = await session.execute(
        sa.select(hubspot_contacts.c.portal_id, hubspot_contacts.c.object_id, hubspot_contacts.c.lead_id).where(
            sa.tuple_(hubspot_contacts.c.portal_id, hubspot_contacts.c.object_id).in_(pairs)
        )
    )
    return {(row.portal_id, row.object_id): row.lead_id for row in result}


async def remember_hubspot_leads(session: AsyncSession, leads: Mapping[tuple[int, int], str], now: datetime) -> None:
    """Record which lead a HubSpot contact is (its email's lead_id), for later events naming only its id."""
    if not leads:
        return
    rows = [{"portal_id": p, "object_id": o, "lead_id": lead, "updated_at": now} for (p, o), lead in leads.items()]
    stmt = insert(hubspot_contacts).values(rows)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["portal_id", "object_id"],
            set_={"lead_id": stmt.excluded.lead_id, "updated_at": stmt.excluded.updated_at},
        )
    )
