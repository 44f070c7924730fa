"""Kafka adapter: lead-scored records in → projection kept, owner chosen when due, sales feedback applied
(contact stops the first-contact clock, a meeting the SQL first-proposal clock, a rejection reassigns), the
SQL clock started when a routed lead becomes SQL, a seminar follow-up per webinar attendance → routing
decisions out."""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.router import metrics, repository
from services.router.config import RepOverride, RoutingConfig
from services.router.decisions import (
    ReassignCause,
    build_decision,
    decide,
    decision_message,
    note_decision,
    reassign,
    seminar_follow_ups,
    start_later_clock,
)
from services.router.domain import (
    Feedback,
    assign,
    became_sql,
    match_rule,
    meets_clock,
    read_feedback,
    rejecting_rep,
    routing_trigger,
)
from services.router.domain.batch import BatchState
from shared.consumer import Decoded, Record, bind_correlation, header
from shared.db import unit_of_work
from shared.events import CloudEvent, CloudEventType, EventKind, LeadScored, SlaKind
from shared.kafka import OutgoingMessage, PoisonRecord
from shared.logging import log_fields
from shared.metrics import CONVERSIONS, SLA_OUTCOMES, TIME_TO_FIRST_CONTACT
from shared.outbox import Outbox

log = logging.getLogger(__name__)
# Clocks that a first contact meets (an SQL's clock waits for the proposal meeting instead).
_FIRST_CONTACT = frozenset({SlaKind.RANK_A, SlaKind.MQL})
# Sales feedback: what can stop a clock, reassign a lead or count a conversion.
_FEEDBACK = frozenset(
    {
        EventKind.SALES_CONTACTED,
        EventKind.SALES_REJECTED,
        EventKind.SALES_ACCEPTED,
        EventKind.SALES_MEETING,
        EventKind.SALES_WON,
        EventKind.SALES_LOST,
    }
)
_OUTCOMES = {
    EventKind.SALES_ACCEPTED: "accepted",
    EventKind.SALES_REJECTED: "rejected",
    EventKind.SALES_MEETING: "meeting",
    EventKind.SALES_WON: "won",
    EventKind.SALES_LOST: "lost",
}


def _one_by_one(scored: LeadScored) -> bool:
    """Whether a record needs the per-record path: sales feedback, or a lead becoming SQL."""
    return became_sql(scored) or any(e.kind in _FEEDBACK for e in scored.new_events)


def _routed(batch: BatchState, lead_id: str) -> bool:
    lead = batch.leads.get(lead_id)
    return lead is not None and lead.routed


# Parametrized once: a generic model looked up per record is a measurable share of decoding.
_SCORED = CloudEvent[LeadScored]


def decode_scored(record: Record) -> CloudEvent[LeadScored]:
    if record.value is None:
        raise PoisonRecord("empty record")
    event = _SCORED.model_validate_json(record.value)
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
        """Apply a batch in one transaction: a few bulk reads, every record decided in memory, bulk writes.

        Records carrying sales feedback (or making a routed lead SQL) are rare and touch more state (timers,
        earlier decisions, reassignment): the batch writes what it has so far and applies those one by one,
        against the database, exactly as before; then carries on in memory.
        """
        config = self.config()
        messages: list[OutgoingMessage] = []
        async with unit_of_work(self.sessions) as session:
            fresh = await repository.mark_applied_many(session, [cloud.id for _, cloud in items])
            todo: list[Decoded[CloudEvent[LeadScored]]] = []
            for record, cloud in items:
                if cloud.id in fresh:
                    fresh.discard(cloud.id)  # a record delivered twice in one batch applies once
                    todo.append((record, cloud))
            if not todo:
                return []
            batch = await self._load(session, [cloud.data for _, cloud in todo], config)
            overrides: Mapping[str, RepOverride] | None = None
            now = None
            for record, cloud in todo:
                bind_correlation(record)
                correlation_id = header(record, "correlation_id")
                now = self.clock()
                scored = cloud.data
                if _one_by_one(scored):
                    await self._flush(session, batch, now)
                    overrides = overrides if overrides is not None else await repository.load_overrides(session)
                    messages += await self._apply_one(session, cloud, config, overrides, correlation_id, now)
                    await self._reload(session, batch, scored.lead_id)
                    continue
                sla_kind = None if _routed(batch, scored.lead_id) else routing_trigger(scored, config)
                if sla_kind is not None:
                    if overrides is None:
                        # Read per batch, not cached: a PUT /v1/reps on any instance applies to the next lead
                        # everywhere.
                        overrides = await repository.load_overrides(session)
                    messages += self._route(batch, cloud, sla_kind, config, overrides, now, correlation_id)
                else:
                    batch.project(scored, now)
                if any(e.kind is EventKind.WEBINAR_ATTENDED for e in scored.new_events):
                    # After routing: the follow-up goes to whoever owns the lead once this update applied.
                    lead = batch.leads[scored.lead_id]
                    messages += seminar_follow_ups(scored, lead, config, now=now, correlation_id=correlation_id)
            assert now is not None  # the batch had records to apply
            await self._flush(session, batch, now)
            await self.outbox.add(session, messages)
        return messages

    async def _load(self, session: AsyncSession, updates: Sequence[LeadScored], config: RoutingConfig) -> BatchState:
        """Everything the batch reads, in a few queries: its leads (locked), and when it may route anyone, the
        reps' loads, the rotations of the teams it may route to (locked) and the owners of its accounts."""
        lead_ids = sorted({scored.lead_id for scored in updates})
        batch = BatchState({row.lead_id: row for row in await repository.lock_leads(session, lead_ids)})
        routable = [
            scored
            for scored in updates
            if not _routed(batch, scored.lead_id) and routing_trigger(scored, config) is not None
        ]
        if routable:
            batch.loads = Counter(await repository.open_loads(session))
            batch.rotations = await repository.lock_rotations(session, [match_rule(s, config).team for s in routable])
            if config.account_match.enabled:
                keys = [s.person.company_key for s in routable if s.person is not None and s.person.company_key]
                batch.outside_owners = await repository.outside_account_owners(session, keys, lead_ids)
        return batch

    def _route(
        self,
        batch: BatchState,
        cloud: CloudEvent[LeadScored],
        sla_kind: SlaKind,
        config: RoutingConfig,
        overrides: Mapping[str, RepOverride],
        now: datetime,
        correlation_id: str | None,
    ) -> list[OutgoingMessage]:
        """``decide``, against the batch's state: same rule, rotation, loads and account owner, same records."""
        scored = cloud.data
        batch.project(scored, now)
        team = match_rule(scored, config).team
        assert batch.loads is not None, "loaded whenever the batch may route"
        owner_of_account = None
        if config.account_match.enabled and scored.person is not None:
            owner_of_account = batch.account_owner(scored.person.company_key, scored.lead_id)
        assignment = assign(
            scored,
            config,
            now=now,
            loads=batch.loads,
            rotation=batch.rotations[team],
            account_owner_rep_id=owner_of_account,
            rep_overrides=overrides,
        )
        if assignment.rotation is not None:
            batch.save_rotation(assignment.rotation)
        decided = build_decision(
            scored, assignment, config, decision_id=decision_id_for(cloud.id), sla_kind=sla_kind, now=now
        )
        batch.add_decision(decided.row, decided.timers)
        batch.set_owner(scored.lead_id, decided.ownership)
        note_decision(decided)
        return [decision_message(decided.decision, correlation_id)]

    async def _flush(self, session: AsyncSession, batch: BatchState, now: datetime) -> None:
        """Write what the batch changed since the last flush: one statement per table."""
        changed, decisions, timers, rotations = batch.take_writes()
        await repository.write_leads(session, changed)
        await repository.add_decisions(session, decisions)
        await repository.add_timer_rows(session, timers)
        await repository.save_rotations(session, rotations, now)

    async def _reload(self, session: AsyncSession, batch: BatchState, lead_id: str) -> None:
        """After a record was applied one by one: take its lead and the rotations as the database has them."""
        [row] = await repository.lock_leads(session, [lead_id])
        batch.replace(row)
        if batch.rotations:
            batch.rotations = await repository.lock_rotations(session, list(batch.rotations))

    async def _apply_one(
        self,
        session: AsyncSession,
        cloud: CloudEvent[LeadScored],
        config: RoutingConfig,
        overrides: Mapping[str, RepOverride],
        correlation_id: str | None,
        now: datetime,
    ) -> list[OutgoingMessage]:
        """One record against the database: feedback, the SQL clock, reassignment (the rare, stateful path)."""
        scored = cloud.data
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
