"""Business gauges the router publishes from its projection: leads by stage and rank, rep load vs capacity,
open SLA clocks. Refreshed on an interval (not at scrape time) so a scrape never waits on the database."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.router.config import RoutingConfig
from services.router.console import queries
from services.router.domain import effective_rep
from shared.events import Rank, SlaKind, Stage
from shared.logging import log_fields
from shared.metrics import DB_ERRORS, LEADS_BY_STAGE, OPEN_LEADS, REP_CAPACITY, SLA_OPEN

log = logging.getLogger(__name__)


async def refresh_once(sessions: async_sessionmaker[AsyncSession], config: RoutingConfig, now: datetime) -> None:
    """Read the projection and set every gauge; label sets absent from the data are set to zero, not left stale."""
    async with sessions() as session:
        figures = await queries.gauge_figures(session, now)
        loads = await queries.loads(session)
        overrides = await queries.overrides(session)
    counts = {(stage, rank): n for stage, rank, n in figures.by_stage_rank}
    for stage in Stage:
        for rank in Rank:
            LEADS_BY_STAGE.labels(stage.value, rank.value).set(counts.get((stage.value, rank.value), 0))
    sla = {(kind, late): n for kind, late, n in figures.sla_open}
    for kind in SlaKind:
        SLA_OPEN.labels(kind.value, "overdue").set(sla.get((kind.value, True), 0))
        SLA_OPEN.labels(kind.value, "running").set(sla.get((kind.value, False), 0))
    for rep in config.reps:
        effective = effective_rep(rep, overrides.get(rep.id))
        OPEN_LEADS.labels(rep.team, rep.id).set(loads.get(rep.id, 0))
        REP_CAPACITY.labels(rep.team, rep.id).set(effective.capacity)


async def refresh_forever(
    sessions: async_sessionmaker[AsyncSession],
    config: Callable[[], RoutingConfig],
    interval_s: float,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Refresh the gauges every ``interval_s`` until cancelled; a failed round is counted and retried."""
    while True:
        try:
            await refresh_once(sessions, config(), clock())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            DB_ERRORS.labels("router", "console_gauges", type(exc).__name__).inc()
            log.warning("business gauges not refreshed", extra=log_fields(error=type(exc).__name__))
        await asyncio.sleep(interval_s)
