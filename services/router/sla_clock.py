"""The durable SLA clock: due reminders and breaches, stored as rows, fired by whichever instance ticks first.

Each tick claims due timers with ``FOR UPDATE SKIP LOCKED`` in one transaction, writes what they publish to
the outbox in that same transaction and marks them fired, so a timer fires once however many router
instances run, and a timer that came due while every instance was down fires at the next tick.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.router import metrics, repository
from services.router.config import RoutingConfig
from services.router.decisions import ReassignCause, reassign
from services.router.domain import escalation_channel, escalation_contact, to_rep_ref
from shared.db import unit_of_work
from shared.events import CloudEvent, CloudEventType, LeadScored, SlaEvent, SlaEventKind, SlaKind, Topics
from shared.kafka import OutgoingMessage, is_transient
from shared.logging import log_fields
from shared.metrics import SLA_OUTCOMES
from shared.outbox import Outbox

log = logging.getLogger(__name__)


class SlaClock:
    """Fires due SLA timers: a reminder to the owner, or a breach escalated to the manager and reassigned."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        config: Callable[[], RoutingConfig],
        *,
        batch: int = 100,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.outbox = outbox
        self.config = config
        self.batch = batch
        self.clock = clock

    async def tick(self, now: datetime | None = None) -> list[OutgoingMessage]:
        """Fire what is due at ``now`` (default: the clock); returns the messages written to the outbox."""
        now = now or self.clock()
        config = self.config()
        messages: list[OutgoingMessage] = []
        async with unit_of_work(self.sessions) as session:
            due = await repository.claim_due_timers(session, now, self.batch)
            if not due:
                return []
            overrides = await repository.load_overrides(session)
            fired: list[str] = []
            stale: list[str] = []
            for timer in due:
                if (
                    timer.current_decision_id != timer.decision_id
                    or timer.sla_status != "open"
                    or timer.current_sla_kind != timer.sla_kind
                ):
                    # contact made, the lead moved on, or a later clock (SQL) replaced this one
                    stale.append(timer.timer_id)
                    continue
                if timer.kind == SlaEventKind.REMINDER.value and now >= timer.sla_due_at:
                    stale.append(timer.timer_id)  # a reminder after the deadline tells nobody anything
                    continue
                try:
                    # A savepoint per timer: one that can never fire (say, a team removed from routing.yaml)
                    # is marked failed with its error instead of holding every other timer back.
                    async with session.begin_nested():
                        produced = [self._sla_message(timer, config, now)]
                        if timer.kind == SlaEventKind.BREACH.value:
                            produced += await self._breach(session, timer, config, overrides, now)
                except Exception as exc:
                    if is_transient(exc):
                        raise
                    log.exception("SLA timer failed", extra=log_fields(timer_id=timer.timer_id))
                    await repository.mark_timers(
                        session, [timer.timer_id], "failed", now, f"{type(exc).__name__}: {exc}"
                    )
                    continue
                messages += produced
                fired.append(timer.timer_id)
            await repository.mark_timers(session, fired, "fired", now)
            await repository.mark_timers(session, stale, "skipped", now)
            await self.outbox.add(session, messages)
        return messages

    async def _breach(
        self, session: AsyncSession, timer: Any, config: RoutingConfig, overrides: Any, now: datetime
    ) -> list[OutgoingMessage]:
        await repository.set_owner(session, timer.lead_id, {"sla_status": "breached"})
        SLA_OUTCOMES.labels(timer.sla_kind, "breached").inc()
        lead = await repository.lead_row(session, timer.lead_id)
        exclude = [timer.owner_rep_id] if timer.owner_rep_id else []
        message = await reassign(
            session,
            lead,
            config,
            overrides,
            now=now,
            cause=ReassignCause.SLA_BREACH,
            exclude=exclude,
            snapshot=LeadScored.model_validate(timer.snapshot),
        )
        log.warning(
            "SLA breached: escalated and reassigned",
            extra=log_fields(lead_id=timer.lead_id, decision_id=timer.decision_id),
        )
        return [message] if message is not None else []

    def _sla_message(self, timer: Any, config: RoutingConfig, now: datetime) -> OutgoingMessage:
        kind = SlaEventKind(timer.kind)
        rep = config.rep(timer.owner_rep_id) if timer.owner_rep_id else None
        breach = kind is SlaEventKind.BREACH
        event = SlaEvent(
            sla_event_id=timer.timer_id,
            kind=kind,
            decision_id=timer.decision_id,
            lead_id=timer.lead_id,
            sla_kind=SlaKind(timer.sla_kind),
            due_at=timer.sla_due_at,
            fired_at=now,
            reminder_fraction=timer.fraction,
            late_by_seconds=(now - timer.sla_due_at).total_seconds() if breach else None,
            owner=to_rep_ref(rep, config) if rep is not None else None,
            escalate_to=escalation_contact(timer.owner_rep_id, timer.team_id, config) if breach else None,
            team_channel=escalation_channel(timer.team_id, config) if breach else None,
            follow_up_attempts=timer.follow_up_attempts,
            lead=LeadScored.model_validate(timer.snapshot),
        )
        metrics.SLA_EVENTS.labels(kind.value, timer.sla_kind).inc()
        cloud = CloudEvent[SlaEvent](
            id=timer.timer_id,
            source="/leadflow/router",
            type=CloudEventType.SLA_EVENT,
            subject=timer.lead_id,
            time=now,
            data=event,
        )
        return OutgoingMessage(id=timer.timer_id, topic=Topics.SLA, key=timer.lead_id, value=cloud.to_bytes())

    async def run_forever(self, interval_s: float) -> None:
        """Background task: tick, publish what the tick wrote, repeat until cancelled."""
        while True:
            try:
                messages = await self.tick()
                await self.outbox.flush(messages)
                if len(messages) >= self.batch:
                    continue  # a backlog (after downtime): drain it without waiting
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # A deadlock with the consumer (both lock a lead and a team's rotation) or a database blip: the
                # transaction rolled back, the timers stay pending and the next tick takes them again.
                if is_transient(exc) or isinstance(exc, DBAPIError):
                    log.warning("SLA tick failed, retrying", extra=log_fields(error=type(exc).__name__))
                else:
                    log.exception("SLA tick failed")
            await asyncio.sleep(interval_s)
