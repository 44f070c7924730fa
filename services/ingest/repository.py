"""Ingest's queries: bulk statements over lists, one round trip per step, never one per event."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

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


# Both group-commit statements take arrays, so their SQL text is the same whatever the group's size: one prepared
# statement each (an expanding IN or a multi-VALUES insert is a new statement, prepared anew, for every size).
_ACCEPTED_SINCE = sa.select(accepted_events.c.event_id, accepted_events.c.accepted_at).where(
    accepted_events.c.event_id == sa.any_(sa.cast(sa.bindparam("event_ids"), ARRAY(sa.Text))),
    accepted_events.c.accepted_at >= sa.bindparam("since"),
)
_ACCEPTED_ROWS = (
    sa.func.unnest(
        sa.cast(sa.bindparam("event_ids"), ARRAY(sa.Text)),
        sa.cast(sa.bindparam("lead_ids"), ARRAY(sa.Text)),
        sa.cast(sa.bindparam("accepted_at"), ARRAY(sa.DateTime(timezone=True))),
    )
    .table_valued(
        sa.column("event_id", sa.Text),
        sa.column("lead_id", sa.Text),
        sa.column("accepted_at", sa.DateTime(timezone=True)),
    )
    .render_derived(name="accepted")
)
_MARK_ACCEPTED = insert(accepted_events).from_select(
    ["event_id", "lead_id", "accepted_at"],
    sa.select(_ACCEPTED_ROWS.c.event_id, _ACCEPTED_ROWS.c.lead_id, _ACCEPTED_ROWS.c.accepted_at),
)
_MARK_ACCEPTED = _MARK_ACCEPTED.on_conflict_do_update(
    index_elements=["event_id"], set_={"accepted_at": _MARK_ACCEPTED.excluded.accepted_at}
)


async def accepted_since(
    db: AsyncConnection | AsyncSession, event_ids: Sequence[str], since: datetime
) -> dict[str, datetime]:
    """When each of these event ids was accepted (durably published), for those accepted since ``since``."""
    if not event_ids:
        return {}
    result = await db.execute(_ACCEPTED_SINCE, {"event_ids": list(set(event_ids)), "since": since})
    return {row[0]: row[1] for row in result}


async def mark_accepted(db: AsyncConnection | AsyncSession, accepted: Sequence[tuple[LeadEvent, datetime]]) -> None:
    """Remember published event ids with when they were accepted, so a repeat within the window publishes nothing.

    One statement for the whole group (rows unnested from three arrays), so it is atomic on its own.
    """
    if not accepted:
        return
    latest: dict[str, tuple[str, datetime]] = {}
    for event, at in accepted:
        row = latest.get(event.event_id)
        if row is None or at > row[1]:
            latest[event.event_id] = (event.lead_id, at)
    await db.execute(
        _MARK_ACCEPTED,
        {
            "event_ids": list(latest),
            "lead_ids": [lead for lead, _ in latest.values()],
            "accepted_at": [at for _, at in latest.values()],
        },
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
