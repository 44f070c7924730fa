"""Scoring's queries. Bulk statements over lists: one round trip per step of a batch, never one per row."""

from __future__ import annotations

import logging
from collections import OrderedDict, defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.metrics import UNREADABLE_EVENTS
from services.scoring.models import jobs, lead_events, leads, stage_history
from shared.bulk import any_text, column_arrays, upsert_statement
from shared.events import EventKind, LeadEvent, Rank, Stage, Temperature
from shared.logging import log_fields

log = logging.getLogger(__name__)


# One statement whatever the batch size: the batch travels as five arrays, unnested into rows on the server.
_UNNESTED_EVENTS = (
    sa.func.unnest(
        sa.bindparam("event_ids", type_=ARRAY(sa.Text)),
        sa.bindparam("lead_ids", type_=ARRAY(sa.Text)),
        sa.bindparam("kinds", type_=ARRAY(sa.Text)),
        sa.bindparam("occurred_ats", type_=ARRAY(sa.DateTime(timezone=True))),
        sa.bindparam("payloads", type_=ARRAY(sa.Text)),
    )
    .table_valued(
        sa.column("event_id", sa.Text),
        sa.column("lead_id", sa.Text),
        sa.column("kind", sa.Text),
        sa.column("occurred_at", sa.DateTime(timezone=True)),
        sa.column("payload", sa.Text),
    )
    .render_derived(name="batch")
)
_INSERT_EVENTS = (
    insert(lead_events)
    .from_select(
        ["event_id", "lead_id", "kind", "occurred_at", "payload"],
        sa.select(
            _UNNESTED_EVENTS.c.event_id,
            _UNNESTED_EVENTS.c.lead_id,
            _UNNESTED_EVENTS.c.kind,
            _UNNESTED_EVENTS.c.occurred_at,
            sa.cast(_UNNESTED_EVENTS.c.payload, JSONB),
        ),
    )
    .on_conflict_do_nothing(index_elements=["event_id"])
    .returning(lead_events.c.event_id)
)


async def insert_new_events(session: AsyncSession, events: Sequence[LeadEvent]) -> set[str]:
    """Store events not seen before; returns the ids that were new (a redelivery returns none)."""
    if not events:
        return set()
    unique = list({e.event_id: e for e in events}.values())
    result = await session.execute(
        _INSERT_EVENTS,
        {
            "event_ids": [e.event_id for e in unique],
            "lead_ids": [e.lead_id for e in unique],
            "kinds": [e.kind.value for e in unique],
            "occurred_ats": [e.occurred_at for e in unique],
            # pydantic writes the JSON text itself: no dict of Python values to build and encode again
            "payloads": [e.model_dump_json() for e in unique],
        },
    )
    return {row[0] for row in result}


class ParsedEvents:
    """Stored events already validated, by event id, least recently used dropped first.

    Why: every batch re-reads the whole history of each lead it touches, and validating those payloads with
    pydantic again was most of scoring's CPU. A stored event never changes (its id is its identity and
    ``LeadEvent`` is frozen), so the parsed value can be reused; the database still says which events exist.
    """

    def __init__(self, max_events: int) -> None:
        self.max_events = max_events
        self._events: OrderedDict[str, LeadEvent] = OrderedDict()

    def get(self, event_id: str) -> LeadEvent | None:
        event = self._events.get(event_id)
        if event is not None:
            self._events.move_to_end(event_id)
        return event

    def put(self, event: LeadEvent) -> None:
        self._events[event.event_id] = event
        self._events.move_to_end(event.event_id)
        while len(self._events) > self.max_events:
            self._events.popitem(last=False)


async def events_of(
    session: AsyncSession, lead_ids: Sequence[str], parsed: ParsedEvents | None = None
) -> dict[str, list[LeadEvent]]:
    """Every stored event of these leads (validated once, then taken from ``parsed`` when given)."""
    if not lead_ids:
        return {}
    # the payload as JSON text, parsed by pydantic in one step (not decoded to Python values, then validated)
    result = await session.execute(
        sa.select(lead_events.c.lead_id, lead_events.c.event_id, sa.cast(lead_events.c.payload, sa.Text)).where(
            any_text(lead_events.c.lead_id, lead_ids)
        )
    )
    out: dict[str, list[LeadEvent]] = defaultdict(list)
    for lead_id, event_id, payload in result:
        event = parsed.get(event_id) if parsed is not None else None
        if event is None:
            try:
                event = LeadEvent.model_validate_json(payload)
            except ValidationError as exc:
                # Stored under older, looser rules (e.g. a year-9999 time from before times were checked): it
                # cannot be scored now, and must not stop the lead's newer events from being scored.
                UNREADABLE_EVENTS.inc()
                log.warning(
                    "stored event no longer valid, left out of scoring",
                    extra=log_fields(lead_id=lead_id, event_id=event_id, error=str(exc.errors()[0]["msg"])[:200]),
                )
                continue
            if parsed is not None:
                parsed.put(event)
        out[lead_id].append(event)
    return out


async def lock_stages(session: AsyncSession, lead_ids: Sequence[str]) -> dict[str, Stage]:
    """The stage of those of these leads that exist, locked (in lead_id order) so two writers never interleave one
    lead; only the stage is read, the rest of the row is about to be replaced."""
    stmt = (
        sa.select(leads.c.lead_id, leads.c.stage)
        .where(any_text(leads.c.lead_id, lead_ids))
        .order_by(leads.c.lead_id)
        .with_for_update()
    )
    return {lead_id: Stage(stage) for lead_id, stage in await session.execute(stmt)}


_JSON_COLUMNS = ("person", "bant", "reasons")
_UPSERT_LEADS = upsert_statement(leads, "lead_id", _JSON_COLUMNS)


async def upsert_leads(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or replace these leads' state (one row per lead) in one statement: the rows travel as arrays."""
    if rows:
        await session.execute(_UPSERT_LEADS, column_arrays(leads, rows, _JSON_COLUMNS))


async def add_stage_history(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Append stage steps."""
    if rows:
        await session.execute(sa.insert(stage_history), list(rows))


async def get_lead(session: AsyncSession, lead_id: str) -> Any | None:
    """One lead's stored state, or None."""
    return (await session.execute(sa.select(leads).where(leads.c.lead_id == lead_id))).first()


async def stage_history_of(session: AsyncSession, lead_id: str) -> list[Any]:
    """One lead's stage steps, oldest first."""
    stmt = sa.select(stage_history).where(stage_history.c.lead_id == lead_id).order_by(stage_history.c.id)
    return list(await session.execute(stmt))


# ---- re-evaluation and rescoring: keyset pages of leads, locked without waiting --------------------------

# Leads that time can still move down: a rank above C, a temperature above cold, or an MQL (which decay can
# drop to nurture). Everything else is already at the bottom of every threshold time can cross.
_CAN_DECAY = sa.or_(
    leads.c.rank != Rank.C.value, leads.c.temperature != Temperature.COLD.value, leads.c.stage == Stage.MQL.value
)


async def lock_page(
    session: AsyncSession,
    *,
    after: str,
    limit: int,
    stale_for: str | None = None,
    only: Sequence[str] | None = None,
) -> list[Any]:
    """The next page of leads (lead_id > ``after``) a re-evaluation should look at, locked.

    ``stale_for``: a model version; only leads scored by another version (a rescore). Otherwise only leads
    that decay can still move down. ``only`` narrows to some lead ids. A lead whose row another writer holds
    (the consumer scoring a new event) is skipped: that writer is scoring it with a fresh clock already.
    """
    condition = leads.c.model_version != stale_for if stale_for is not None else _CAN_DECAY
    stmt = sa.select(leads.c.lead_id, leads.c.stage, leads.c.rank, leads.c.temperature).where(
        leads.c.lead_id > after, condition
    )
    if only is not None:
        stmt = stmt.where(any_text(leads.c.lead_id, only))
    stmt = stmt.order_by(leads.c.lead_id).limit(limit).with_for_update(skip_locked=True)
    return list(await session.execute(stmt))


async def count_stale(session: AsyncSession, model_version: str, only: Sequence[str] | None = None) -> int:
    """How many leads were scored by a model version other than this one."""
    stmt = sa.select(sa.func.count()).select_from(leads).where(leads.c.model_version != model_version)
    if only is not None:
        stmt = stmt.where(any_text(leads.c.lead_id, only))
    return int((await session.execute(stmt)).scalar_one())


# ---- jobs ------------------------------------------------------------------------------------------------

_COUNTERS = ("scanned", "changed_rank", "changed_stage", "changed_rank_or_stage", "changed_temperature",
             "went_down", "published")  # fmt: skip


async def create_job(session: AsyncSession, job_id: str, cause: str, model_version: str, now: datetime) -> None:
    """Record a job as running."""
    await session.execute(
        sa.insert(jobs).values(job_id=job_id, cause=cause, state="running", model_version=model_version, started_at=now)
    )


async def add_to_job(session: AsyncSession, job_id: str, counts: Mapping[str, int]) -> None:
    """Add one batch's counts to the job, in the batch's transaction."""
    values = {name: jobs.c[name] + counts.get(name, 0) for name in _COUNTERS}
    await session.execute(sa.update(jobs).where(jobs.c.job_id == job_id).values(**values))


async def finish_job(session: AsyncSession, job_id: str, state: str, now: datetime, error: str | None = None) -> None:
    """Mark a job done, failed or superseded."""
    await session.execute(
        sa.update(jobs).where(jobs.c.job_id == job_id).values(state=state, finished_at=now, error=error)
    )


async def get_job(session: AsyncSession, job_id: str) -> Any | None:
    """One job, or None."""
    return (await session.execute(sa.select(jobs).where(jobs.c.job_id == job_id))).first()


# ---- calibration: leads with a sales outcome -------------------------------------------------------------

OUTCOME_KINDS = (EventKind.SALES_WON, EventKind.SALES_LOST, EventKind.SALES_ACCEPTED, EventKind.SALES_REJECTED)


async def leads_with_outcomes(session: AsyncSession) -> list[str]:
    """Ids of leads that sales accepted, rejected, won or lost."""
    stmt = (
        sa.select(lead_events.c.lead_id)
        .where(lead_events.c.kind.in_([k.value for k in OUTCOME_KINDS]))
        .distinct()
        .order_by(lead_events.c.lead_id)
    )
    return [row[0] for row in await session.execute(stmt)]
