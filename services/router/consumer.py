"""Kafka adapter: lead-scored records in → projection kept, owner chosen when due, sales feedback applied
(contact stops the first-contact clock, a meeting the SQL first-proposal clock, a rejection reassigns), the
SQL clock started when a routed lead becomes SQL, a seminar follow-up per webinar attendance → routing
decisions out."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.router import metrics, repository
from services.router.config import RepOverride, RoutingConfig
from services.router.decisions import ReassignCause, decide, reassign, seminar_follow_ups, start_later_clock
from services.router.domain import (
    Feedback,
    became_sql,
    meets_clock,
    read_feedback,
    rejecting_rep,
    routing_trigger,
)
from shared.consumer import Decoded, Record, bind_correlation, header
from shared.db import unit_of_work
from shared.events import CloudEvent, CloudEventType, EventKind, LeadScored, SlaKind, decode
from shared.kafka import OutgoingMessage, PoisonRecord
from shared.logging import log_fields
from shared.metrics import CONVERSIONS, SLA_OUTCOMES, TIME_TO_FIRST_CONTACT
from shared.outbox import Outbox

log = logging.getLogger(__name__)
# Clocks that a first contact meets (an SQL's clock waits for the proposal meeting instead).
_FIRST_CONTACT = frozenset({SlaKind.RANK_A, SlaKind.MQL})
_OUTCOMES = {
    EventKind.SALES_ACCEPTED: "accepted",
    EventKind.SALES_REJECTED: "rejected",
    EventKind.SALES_MEETING: "meeting",
    EventKind.SALES_WON: "won",
    EventKind.SALES_LOST: "lost",
}


def decode_scored(record: Record) -> CloudEvent[LeadScored]:
    if record.value is None:
        raise PoisonRecord("empty record")
    event = decode(record.value, LeadScored)
    if event.type != CloudEventType.LEAD_SCORED:
        raise PoisonRecord(f"unexpected CloudEvent type {event.type!r}")
    return event


def decision_id_for(scored_event_id: str) -> str:
    """Deterministic: reprocessing the same scored event can only ever produce the same decision."""
    return "dec_" + hashlib.sha256(scored_event_id.encode()).hexdigest()[:32]


class RouterHandler:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        config: Callable[[], RoutingConfig],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.outbox = outbox
        self.config = config
        self.clock = clock

    async def apply(self, items: Sequence[Decoded[CloudEvent[LeadScored]]]) -> list[OutgoingMessage]:
        config = self.config()
        messages: list[OutgoingMessage] = []
        async with unit_of_work(self.sessions) as session:
            # Read per batch, not cached: a PUT /v1/reps on any instance applies to the next lead everywhere.
            overrides = await repository.load_overrides(session)
            for record, cloud in items:
                bind_correlation(record)
                if not await repository.mark_applied(session, cloud.id):
                    continue
                messages += await self._apply_one(session, cloud, config, overrides, header(record, "correlation_id"))
            await self.outbox.add(session, messages)
        return messages

    async def _apply_one(
        self,
        session: AsyncSession,
        cloud: CloudEvent[LeadScored],
        config: RoutingConfig,
        overrides: Mapping[str, RepOverride],
        correlation_id: str | None,
    ) -> list[OutgoingMessage]:
        scored = cloud.data
        now = self.clock()
        existing = await repository.lead_row(session, scored.lead_id, lock=True)
        await repository.upsert_projection(
            session,
            {
                "lead_id": scored.lead_id,
                "company_key": scored.person.company_key if scored.person else None,
                "total": scored.total,
                "fit": scored.fit,
                "intent": scored.intent,
                "reasons": [r.model_dump(mode="json") for r in scored.reasons],
                "rank": scored.rank.value,
                "temperature": scored.temperature.value,
                "stage": scored.stage.value,
                "updated_at": now,
            },
        )
        feedback = read_feedback(scored.new_events)
        if feedback.contacts and feedback.first_contact_at is not None:
            await repository.record_contacts(session, scored.lead_id, feedback.contacts, feedback.first_contact_at)
        messages: list[OutgoingMessage] = []
        if existing is not None and existing.routed:
            # One owner at a time: a routed lead changes hands only through feedback, the SLA clock or a rep leaving.
            messages += await self._apply_feedback(session, existing, scored, feedback, config, overrides, now)
        elif (sla_kind := routing_trigger(scored, config)) is not None:
            messages.append(
                await decide(
                    session,
                    scored,
                    config,
                    overrides,
                    decision_id=decision_id_for(cloud.id),
                    sla_kind=sla_kind,
                    now=now,
                    correlation_id=correlation_id,
                )
            )
        if any(e.kind is EventKind.WEBINAR_ATTENDED for e in scored.new_events):
            # After routing and feedback: the follow-up goes to whoever owns the lead once this update applied.
            lead = await repository.lead_row(session, scored.lead_id)
            messages += seminar_follow_ups(scored, lead, config, now=now, correlation_id=correlation_id)
        return messages

    async def _apply_feedback(
        self,
        session: AsyncSession,
        lead: Any,
        scored: LeadScored,
        feedback: Feedback,
        config: RoutingConfig,
        overrides: Mapping[str, RepOverride],
        now: datetime,
    ) -> list[OutgoingMessage]:
        await self._count_conversions(session, lead, scored)
        if lead.sla_status == "open" and lead.decision_id is not None and lead.sla_kind:
            await self._stop_if_met(session, lead.lead_id, lead.decision_id, SlaKind(lead.sla_kind), feedback)
        if became_sql(scored) and await start_later_clock(session, lead, scored, SlaKind.SQL, config, now=now):
            # The proposal meeting may arrive in the very update that qualified the lead.
            await self._stop_if_met(session, lead.lead_id, lead.decision_id, SlaKind.SQL, feedback)
        rejected_by = [rejecting_rep(r, lead.owner_rep_id, config) for r in feedback.rejections]
        rejected_by_ids = [rep for rep in rejected_by if rep is not None]
        if not rejected_by_ids:
            return []
        if lead.owner_rep_id not in rejected_by_ids:
            # A rep who no longer owns it said no: remember, so it never comes back to them.
            await repository.exclude_reps(session, lead.lead_id, rejected_by_ids)
            return []
        reasons = "; ".join(r.reason for r in feedback.rejections if r.reason) or None
        message = await reassign(
            session,
            lead,
            config,
            overrides,
            now=now,
            cause=ReassignCause.REJECTED,
            exclude=rejected_by_ids,
            detail=reasons,
        )
        return [message] if message is not None else []

    async def _count_conversions(self, session: AsyncSession, lead: Any, scored: LeadScored) -> None:
        """Sales outcomes by the channel that brought the lead to sales (the trigger of its routing decision)."""
        outcomes = [_OUTCOMES[e.kind] for e in scored.new_events if e.kind in _OUTCOMES]
        if not outcomes:
            return
        decision = await repository.decision_row(session, lead.decision_id) if lead.decision_id else None
        trigger = (decision.lead or {}).get("trigger", {}) if decision is not None else {}
        channel = str(trigger.get("channel") or scored.trigger.channel.value)
        for outcome in outcomes:
            CONVERSIONS.labels(channel, outcome).inc()

    async def _stop_if_met(
        self, session: AsyncSession, lead_id: str, decision_id: str, sla_kind: SlaKind, feedback: Feedback
    ) -> None:
        """Stop the running clock when this update's feedback meets it: a contact, or for SQL a meeting."""
        if not meets_clock(feedback, sla_kind):
            return
        await repository.stop_timers(session, decision_id, "stopped")
        await repository.set_owner(session, lead_id, {"sla_status": "met"})
        metrics.SLA_STOPPED.labels(sla_kind.value).inc()
        SLA_OUTCOMES.labels(sla_kind.value, "met").inc()
        decision = await repository.decision_row(session, decision_id)
        if feedback.first_contact_at is not None and decision is not None and sla_kind in _FIRST_CONTACT:
            waited = (feedback.first_contact_at - decision.decided_at).total_seconds()
            TIME_TO_FIRST_CONTACT.labels(sla_kind.value).observe(max(0.0, waited))
        log.info("SLA met: clock stopped", extra=log_fields(lead_id=lead_id, sla_kind=sla_kind.value))
