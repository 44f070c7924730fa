"""The console's reads over the router's own tables: a few grouped queries per page, never one per lead."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.models import decisions, leads
from services.router.repository import OPEN_STAGES, load_overrides, open_loads

# The person is read from the LeadScored snapshot stored with the lead's current decision.
_person = decisions.c.lead["person"]
_DISPLAY = (
    _person["name"].astext.label("name"),
    _person["company"].astext.label("company"),
    _person["title"].astext.label("title"),
    decisions.c.lead["trigger"]["channel"].astext.label("channel"),
)


async def queue(session: AsyncSession, *, team_id: str | None, limit: int) -> list[dict[str, Any]]:
    """Open, routed leads with their owner, rank, score and SLA clock (ordering is the view's job)."""
    stmt = (
        sa.select(
            leads.c.lead_id,
            leads.c.owner_rep_id,
            leads.c.team_id,
            leads.c.queue_id,
            leads.c.rank,
            leads.c.total,
            leads.c.stage,
            leads.c.temperature,
            leads.c.sla_kind,
            leads.c.sla_due_at,
            leads.c.sla_status,
            leads.c.why,
            *_DISPLAY,
        )
        .select_from(leads.outerjoin(decisions, decisions.c.decision_id == leads.c.decision_id))
        .where(leads.c.routed.is_(True), leads.c.stage.in_(OPEN_STAGES))
        # Running clocks first in SQL too, so the limit never cuts an overdue lead off the page.
        .order_by(
            sa.case((leads.c.sla_status.in_(("open", "queued")), 0), else_=1),
            leads.c.sla_due_at.asc().nulls_last(),
            leads.c.lead_id,
        )
        .limit(limit)
    )
    if team_id is not None:
        stmt = stmt.where(leads.c.team_id == team_id)
    return [dict(row._mapping) for row in await session.execute(stmt)]


@dataclass(frozen=True)
class LeadDetail:
    """A lead's router row and every decision taken for it, oldest first."""

    lead: dict[str, Any]
    decisions: list[dict[str, Any]]

    @property
    def person(self) -> dict[str, Any]:
        """Name, company, title… from the latest decision's snapshot (empty before the lead is routed)."""
        for decision in reversed(self.decisions):
            snapshot = decision.get("lead") or {}
            if snapshot.get("person"):
                return dict(snapshot["person"])
        return {}

    @property
    def snapshot(self) -> dict[str, Any]:
        """The LeadScored the latest decision was made from."""
        return dict(self.decisions[-1].get("lead") or {}) if self.decisions else {}


async def lead_detail(session: AsyncSession, lead_id: str) -> LeadDetail | None:
    """One lead with its routing history, or None when the router never saw it."""
    row = (await session.execute(sa.select(leads).where(leads.c.lead_id == lead_id))).first()
    if row is None:
        return None
    history = await session.execute(
        sa.select(decisions).where(decisions.c.lead_id == lead_id).order_by(decisions.c.decided_at)
    )
    return LeadDetail(lead=dict(row._mapping), decisions=[dict(d._mapping) for d in history])


async def loads(session: AsyncSession) -> dict[str, int]:
    """Open leads per rep."""
    return await open_loads(session)


overrides = load_overrides


@dataclass(frozen=True)
class TeamFigures:
    """Counts behind the team page: SLA outcomes, stages, and conversion by rank and by channel."""

    sla_status: dict[str, int]
    stages: dict[str, int]
    by_rank: list[tuple[str | None, str, int]]
    by_channel: list[tuple[str | None, str, int]]


async def team_figures(session: AsyncSession, team_id: str | None) -> TeamFigures:
    """Grouped counts over the team's routed leads (all teams when ``team_id`` is None)."""
    scope: list[sa.ColumnElement[bool]] = [leads.c.routed.is_(True)]
    if team_id is not None:
        scope.append(leads.c.team_id == team_id)
    sla = await session.execute(
        sa.select(leads.c.sla_status, sa.func.count()).where(*scope).group_by(leads.c.sla_status)
    )
    stages = await session.execute(sa.select(leads.c.stage, sa.func.count()).where(*scope).group_by(leads.c.stage))
    by_rank = await session.execute(
        sa.select(leads.c.rank, leads.c.stage, sa.func.count()).where(*scope).group_by(leads.c.rank, leads.c.stage)
    )
    channel = decisions.c.lead["trigger"]["channel"].astext
    by_channel = await session.execute(
        sa.select(channel, leads.c.stage, sa.func.count())
        .select_from(leads.outerjoin(decisions, decisions.c.decision_id == leads.c.decision_id))
        .where(*scope)
        .group_by(channel, leads.c.stage)
    )
    return TeamFigures(
        sla_status={str(k or "none"): int(n) for k, n in sla},
        stages={str(k): int(n) for k, n in stages},
        by_rank=[(r, s, int(n)) for r, s, n in by_rank],
        by_channel=[(c, s, int(n)) for c, s, n in by_channel],
    )


@dataclass(frozen=True)
class GaugeFigures:
    """What the business gauges publish: leads by stage and rank, open SLA clocks by kind and lateness."""

    by_stage_rank: list[tuple[str, str, int]]
    sla_open: list[tuple[str, bool, int]]


async def gauge_figures(session: AsyncSession, now: datetime) -> GaugeFigures:
    """Two grouped queries over the lead projection."""
    stage_rank = await session.execute(
        sa.select(leads.c.stage, leads.c.rank, sa.func.count()).group_by(leads.c.stage, leads.c.rank)
    )
    overdue = leads.c.sla_due_at < now
    sla_open = await session.execute(
        sa.select(leads.c.sla_kind, overdue, sa.func.count())
        .where(leads.c.sla_status == "open", leads.c.sla_kind.is_not(None))
        .group_by(leads.c.sla_kind, overdue)
    )
    return GaugeFigures(
        by_stage_rank=[(s, r, int(n)) for s, r, n in stage_rank],
        sla_open=[(k, bool(late), int(n)) for k, late, n in sla_open],
    )


def rep_ids(rows: Sequence[dict[str, Any]]) -> set[str]:
    """Owners appearing in a set of queue rows."""
    return {r["owner_rep_id"] for r in rows if r.get("owner_rep_id")}
