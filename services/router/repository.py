"""Router's queries: lead projection, ownership, loads, rotation (locked per team), decisions, rep overrides and
SLA timers. Every multi-row write is one statement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.config import RepOverride
from services.router.domain import RotationState, TimerSpec
from services.router.domain.batch import OPEN_STAGES, AccountLead, LeadRow
from services.router.models import applied, decisions, leads, rep_overrides, rotation, sla_timers
from shared.bulk import column_arrays, upsert_statement

__all__ = ["OPEN_STAGES"]

_TEXTS = ARRAY(sa.Text)
# Compiled once, executed with a whole batch's values (a VALUES list per batch size would recompile each time).
_MARK_APPLIED = (
    insert(applied)
    .from_select(["event_id"], sa.select(sa.func.unnest(sa.bindparam("ids", type_=_TEXTS))))
    .on_conflict_do_nothing()
    .returning(applied.c.event_id)
)
_ADD_TEAMS = (
    insert(rotation)
    .from_select(["team_id"], sa.select(sa.func.unnest(sa.bindparam("teams", type_=_TEXTS))))
    .on_conflict_do_nothing()
)
_LEAD_JSON = ("reasons", "excluded_rep_ids")
_UPSERT_LEADS = upsert_statement(leads, "lead_id", _LEAD_JSON)
_ADD_DECISIONS = insert(decisions).on_conflict_do_nothing()
_ADD_TIMERS = insert(sla_timers).on_conflict_do_nothing(index_elements=["timer_id"])
_SAVE_ROTATION = (
    sa.update(rotation)
    .where(rotation.c.team_id == sa.bindparam("b_team_id"))
    .values(
        last_rep_id=sa.bindparam("b_last_rep_id"),
        current_weights=sa.bindparam("b_current_weights"),
        updated_at=sa.bindparam("b_updated_at"),
    )
)


# --- one consumer batch, in bulk -------------------------------------------------------------------


async def mark_applied_many(session: AsyncSession, event_ids: Sequence[str]) -> set[str]:
    """Record that scored events were applied; returns those that were not already (the rest are redeliveries)."""
    if not event_ids:
        return set()
    return set((await session.execute(_MARK_APPLIED, {"ids": list(event_ids)})).scalars())


async def lock_leads(session: AsyncSession, lead_ids: Sequence[str]) -> list[LeadRow]:
    """The batch's existing leads, row-locked until commit, taken in lead id order (no deadlock between
    batches, whatever order their records came in)."""
    if not lead_ids:
        return []
    # Not the reasons: every lead written back takes them from its new scored update.
    columns = [c for c in leads.columns if c.name != "reasons"]
    stmt = sa.select(*columns).where(leads.c.lead_id == sa.any_(sa.bindparam("ids", type_=_TEXTS)))
    rows = await session.execute(stmt.order_by(leads.c.lead_id).with_for_update(), {"ids": sorted(set(lead_ids))})
    return [LeadRow.from_mapping(row._mapping) for row in rows]


async def lock_rotations(session: AsyncSession, team_ids: Sequence[str]) -> dict[str, RotationState]:
    """Several teams' rotations, row-locked until commit in team id order (see ``lock_rotation``)."""
    teams = sorted(set(team_ids))
    if not teams:
        return {}
    await session.execute(_ADD_TEAMS, {"teams": teams})
    stmt = sa.select(rotation).where(rotation.c.team_id.in_(teams)).order_by(rotation.c.team_id).with_for_update()
    return {
        row.team_id: RotationState(
            team_id=row.team_id, last_rep_id=row.last_rep_id, current_weights=dict(row.current_weights)
        )
        for row in await session.execute(stmt)
    }


async def outside_account_owners(
    session: AsyncSession, company_keys: Sequence[str], batch_lead_ids: Sequence[str]
) -> dict[str, AccountLead]:
    """Per account, its most recently updated owned, open lead that is not in the batch (those the batch
    tracks itself)."""
    keys = sorted({k for k in company_keys if k})
    if not keys:
        return {}
    stmt = (
        sa.select(leads.c.company_key, leads.c.lead_id, leads.c.owner_rep_id, leads.c.updated_at)
        .ext(distinct_on(leads.c.company_key))
        .where(
            leads.c.company_key == sa.any_(sa.bindparam("keys", type_=_TEXTS)),
            leads.c.lead_id != sa.all_(sa.bindparam("batch", type_=_TEXTS)),
            leads.c.owner_rep_id.is_not(None),
            leads.c.stage.in_(OPEN_STAGES),
        )
        .order_by(leads.c.company_key, leads.c.updated_at.desc())
    )
    rows = await session.execute(stmt, {"keys": keys, "batch": list(batch_lead_ids)})
    return {row.company_key: AccountLead(row.lead_id, row.owner_rep_id, row.updated_at) for row in rows}


async def write_leads(session: AsyncSession, rows: Sequence[LeadRow]) -> None:
    """Write the batch's leads back, every column, one statement executed over all of them."""
    if rows:
        await session.execute(_UPSERT_LEADS, column_arrays(leads, [row.values() for row in rows], _LEAD_JSON))


async def add_decisions(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        await session.execute(_ADD_DECISIONS, list(rows))


async def add_timer_rows(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Persist SLA alarms given as rows; deterministic ids make a replay a no-op."""
    if rows:
        await session.execute(_ADD_TIMERS, list(rows))


async def save_rotations(session: AsyncSession, states: Sequence[RotationState], now: datetime) -> None:
    if states:
        await session.execute(
            _SAVE_ROTATION,
            [
                {
                    "b_team_id": s.team_id,
                    "b_last_rep_id": s.last_rep_id,
                    "b_current_weights": dict(s.current_weights),
                    "b_updated_at": now,
                }
                for s in states
            ],
        )


# --- one lead at a time ----------------------------------------------------------------------------


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


def open_loads_query() -> sa.Select[Any]:
    """Open leads per rep; its WHERE is the predicate of the ``leads_open_owner`` partial index (models.py)."""
    return (
        sa.select(leads.c.owner_rep_id, sa.func.count())
        .where(leads.c.owner_rep_id.is_not(None), leads.c.stage.in_(OPEN_STAGES))
        .group_by(leads.c.owner_rep_id)
    )


async def open_loads(session: AsyncSession) -> dict[str, int]:
    """Open leads per rep, the capacity measure."""
    return {rep: count for rep, count in await session.execute(open_loads_query())}


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


# --- decisions -------------------------------------------------------------------------------------


async def decision_row(session: AsyncSession, decision_id: str) -> Any | None:
    """One stored decision, with the scored lead it was made from."""
    return (await session.execute(sa.select(decisions).where(decisions.c.decision_id == decision_id))).first()


async def decision_history(session: AsyncSession, lead_id: str) -> list[Any]:
    """Every decision about a lead, oldest first (assignment, reassignments)."""
    stmt = (
        sa.select(
            decisions.c.decision_id,
            decisions.c.kind,
            decisions.c.rep_id,
            decisions.c.team_id,
            decisions.c.queue_id,
            decisions.c.rule_id,
            decisions.c.reason,
            decisions.c.sla_kind,
            decisions.c.sla_due_at,
            decisions.c.decided_at,
        )
        .where(decisions.c.lead_id == lead_id)
        .order_by(decisions.c.decided_at, decisions.c.decision_id)
    )
    return list((await session.execute(stmt)).all())


async def replayable_decisions(session: AsyncSession, since: datetime) -> list[Any]:
    """First-time decisions since ``since`` that stored their input, oldest first (what-if replays)."""
    stmt = (
        sa.select(
            decisions.c.decision_id,
            decisions.c.lead,
            decisions.c.decided_at,
            decisions.c.rep_id,
            decisions.c.team_id,
            decisions.c.queue_id,
            decisions.c.rule_id,
        )
        .where(decisions.c.decided_at >= since, decisions.c.lead.is_not(None), decisions.c.kind != "reassigned")
        .order_by(decisions.c.decided_at, decisions.c.decision_id)
    )
    return list((await session.execute(stmt)).all())


# --- leads: feedback and reassignment --------------------------------------------------------------


async def record_contacts(session: AsyncSession, lead_id: str, attempts: int, first_contact_at: datetime) -> None:
    """Count follow-up attempts; the first contact time is kept once known."""
    await session.execute(
        sa.update(leads)
        .where(leads.c.lead_id == lead_id)
        .values(
            follow_up_attempts=leads.c.follow_up_attempts + attempts,
            first_contact_at=sa.func.coalesce(leads.c.first_contact_at, first_contact_at),
        )
    )


async def exclude_reps(session: AsyncSession, lead_id: str, rep_ids: Sequence[str]) -> list[str]:
    """Add reps who must never get this lead again; returns the full list."""
    row = (
        await session.execute(sa.select(leads.c.excluded_rep_ids).where(leads.c.lead_id == lead_id))
    ).scalar_one_or_none()
    current = list(row or [])
    merged = current + [r for r in dict.fromkeys(rep_ids) if r not in current]
    if merged != current:
        await session.execute(sa.update(leads).where(leads.c.lead_id == lead_id).values(excluded_rep_ids=merged))
    return merged


async def open_sla_leads_of(session: AsyncSession, rep_id: str) -> list[Any]:
    """A rep's leads whose SLA clock still runs, locked for reassignment."""
    stmt = (
        sa.select(leads)
        .where(leads.c.owner_rep_id == rep_id, leads.c.sla_status == "open")
        .order_by(leads.c.sla_due_at)
        .with_for_update()
    )
    return list((await session.execute(stmt)).all())


# --- rep overrides ---------------------------------------------------------------------------------


def _override_from_row(row: Any) -> RepOverride:
    return RepOverride.model_validate(
        {"active": row.active, "capacity": row.capacity, "out_of_office": row.out_of_office}
    )


async def load_overrides(session: AsyncSession) -> dict[str, RepOverride]:
    """Every rep's runtime changes (PUT /v1/reps/{id}), read fresh so every instance applies them at once."""
    rows = (await session.execute(sa.select(rep_overrides))).all()
    return {row.rep_id: _override_from_row(row) for row in rows}


async def save_override(session: AsyncSession, rep_id: str, changes: Mapping[str, Any], now: datetime) -> None:
    """Set the given fields of a rep's override (None clears one back to routing.yaml); others are kept."""
    values = {"rep_id": rep_id, **changes, "updated_at": now}
    stmt = insert(rep_overrides).values(**values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["rep_id"], set_={k: stmt.excluded[k] for k in values if k != "rep_id"}
        )
    )


# --- SLA timers ------------------------------------------------------------------------------------


async def add_timers(
    session: AsyncSession,
    decision_id: str,
    lead_id: str,
    specs: Sequence[TimerSpec],
    *,
    later_clock: Mapping[str, Any] | None = None,
) -> int:
    """Persist a decision's SLA alarms; deterministic ids make a replay a no-op. Returns how many were new.

    ``later_clock`` (``sla_kind``, ``due_at``, ``lead``) marks alarms of a clock started on the decision
    after it was made, which the ticker reads instead of the decision's own kind, deadline and snapshot.
    """
    if not specs:
        return 0
    rows = [
        {
            "timer_id": spec.timer_id,
            "decision_id": decision_id,
            "lead_id": lead_id,
            "kind": spec.kind.value,
            "fraction": spec.fraction,
            "fire_at": spec.fire_at,
            # Left out, not None, for a decision's own clock: a JSONB None would be stored as JSON null.
            **(later_clock or {}),
        }
        for spec in specs
    ]
    stmt = (
        insert(sla_timers)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["timer_id"])
        .returning(sla_timers.c.timer_id)
    )
    return len((await session.execute(stmt)).all())


async def stop_timers(session: AsyncSession, decision_id: str, status: str) -> int:
    """Stop a decision's pending alarms (contact made, reassigned); returns how many were pending."""
    result = await session.execute(
        sa.update(sla_timers)
        .where(sla_timers.c.decision_id == decision_id, sla_timers.c.status == "pending")
        .values(status=status)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def has_timer(session: AsyncSession, timer_id: str) -> bool:
    """Whether an alarm with this (deterministic) id was ever stored, whatever became of it."""
    stmt = sa.select(sa.literal(True)).where(sla_timers.c.timer_id == timer_id)
    return (await session.execute(stmt)).first() is not None


async def claim_due_timers(session: AsyncSession, now: datetime, limit: int) -> list[Any]:
    """Due alarms with their lead and decision, locked; rows another instance holds are skipped, not awaited.

    Locking the lead row too (SKIP LOCKED) means a lead being routed or given feedback right now is left for
    the next tick instead of waiting on it.
    """
    stmt = (
        sa.select(
            sla_timers.c.timer_id,
            sla_timers.c.decision_id,
            sla_timers.c.lead_id,
            sla_timers.c.kind,
            sla_timers.c.fraction,
            sla_timers.c.fire_at,
            leads.c.decision_id.label("current_decision_id"),
            leads.c.sla_kind.label("current_sla_kind"),
            leads.c.sla_status,
            leads.c.owner_rep_id,
            leads.c.follow_up_attempts,
            leads.c.excluded_rep_ids,
            # A later clock's own kind, deadline and snapshot; otherwise the decision's.
            sa.func.coalesce(sla_timers.c.lead, decisions.c.lead).label("snapshot"),
            decisions.c.team_id,
            sa.func.coalesce(sla_timers.c.sla_kind, decisions.c.sla_kind).label("sla_kind"),
            sa.func.coalesce(sla_timers.c.due_at, decisions.c.sla_due_at).label("sla_due_at"),
        )
        .join(leads, leads.c.lead_id == sla_timers.c.lead_id)
        .join(decisions, decisions.c.decision_id == sla_timers.c.decision_id)
        .where(sla_timers.c.status == "pending", sla_timers.c.fire_at <= now)
        .order_by(sla_timers.c.fire_at, sla_timers.c.timer_id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=[sla_timers, leads])
    )
    return list((await session.execute(stmt)).all())


async def mark_timers(
    session: AsyncSession, timer_ids: Sequence[str], status: str, now: datetime, error: str | None = None
) -> None:
    """Record what became of alarms: fired, skipped (stale), or failed with an error."""
    if not timer_ids:
        return
    await session.execute(
        sa.update(sla_timers)
        .where(sla_timers.c.timer_id.in_(list(timer_ids)))
        .values(status=status, fired_at=now, error=error)
    )


async def timers_of(session: AsyncSession, decision_id: str) -> list[Any]:
    """A decision's alarms (for the lead view and tests)."""
    stmt = sa.select(sla_timers).where(sla_timers.c.decision_id == decision_id).order_by(sla_timers.c.fire_at)
    return list((await session.execute(stmt)).all())
