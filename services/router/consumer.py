"""Kafka adapter: lead-scored records in → projection kept, owner chosen when due → routing decisions out."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.router import metrics, repository
from services.router.config import RoutingConfig
from services.router.domain import assign, match_rule, routing_trigger, sla_due_at, to_rep_ref
from shared.consumer import Decoded, Record, bind_correlation, header
from shared.db import unit_of_work
from shared.events import (
    CloudEvent,
    CloudEventType,
    DecisionKind,
    LeadScored,
    RepRef,
    RoutingDecision,
    SlaKind,
    Topics,
    decode,
)
from shared.kafka import OutgoingMessage, PoisonRecord
from shared.logging import log_fields
from shared.outbox import Outbox

log = logging.getLogger(__name__)


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
            for record, cloud in items:
                bind_correlation(record)
                if not await repository.mark_applied(session, cloud.id):
                    continue
                message = await self._apply_one(session, cloud, config, header(record, "correlation_id"))
                if message is not None:
                    messages.append(message)
            await self.outbox.add(session, messages)
        return messages

    async def _apply_one(
        self, session: AsyncSession, cloud: CloudEvent[LeadScored], config: RoutingConfig, correlation_id: str | None
    ) -> OutgoingMessage | None:
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
        if existing is not None and existing.routed:
            return None  # one owner at a time; reassignment is the SLA and feedback paths' job
        sla_kind = routing_trigger(scored, config)
        if sla_kind is None:
            return None
        return await self._route(session, cloud, config, sla_kind, now, correlation_id)

    async def _route(
        self,
        session: AsyncSession,
        cloud: CloudEvent[LeadScored],
        config: RoutingConfig,
        sla_kind: SlaKind,
        now: datetime,
        correlation_id: str | None,
    ) -> OutgoingMessage:
        scored = cloud.data
        rule = match_rule(scored, config)
        rotation = await repository.lock_rotation(session, rule.team)
        owner_of_account = None
        if config.account_match.enabled and scored.person is not None:
            owner_of_account = await repository.account_owner(session, scored.person.company_key, scored.lead_id)
        assignment = assign(
            scored,
            config,
            now=now,
            loads=await repository.open_loads(session),
            rotation=rotation,
            account_owner_rep_id=owner_of_account,
        )
        if assignment.rotation is not None:
            await repository.save_rotation(session, assignment.rotation, now)
        decision_id = decision_id_for(cloud.id)
        due = sla_due_at(sla_kind, now, config)
        owner: RepRef | None = to_rep_ref(assignment.rep, config) if assignment.rep is not None else None
        queue_contact = None
        if owner is None:
            queue = config.fallback_queue
            queue_contact = RepRef(
                rep_id=queue.id, name=queue.manager.name, email=queue.manager.email, slack_id=queue.manager.slack_id
            )
        decision = RoutingDecision(
            decision_id=decision_id,
            lead_id=scored.lead_id,
            kind=assignment.kind,
            owner=owner,
            team=assignment.team_id,
            queue=assignment.queue_id,
            queue_contact=queue_contact,
            rule=assignment.rule_id,
            reason=assignment.reason,
            sla_kind=sla_kind,
            sla_due_at=due,
            lead=scored,
            trace=assignment.trace,
            decided_at=now,
        )
        await repository.add_decision(
            session,
            {
                "decision_id": decision_id,
                "lead_id": scored.lead_id,
                "kind": assignment.kind.value,
                "rep_id": owner.rep_id if owner else None,
                "team_id": assignment.team_id,
                "queue_id": assignment.queue_id,
                "rule_id": assignment.rule_id,
                "reason": assignment.reason,
                "trace": assignment.trace,
                "sla_kind": sla_kind.value,
                "sla_due_at": due,
                "decided_at": now,
            },
        )
        await repository.set_owner(
            session,
            scored.lead_id,
            {
                "routed": True,
                "owner_rep_id": owner.rep_id if owner else None,
                "team_id": assignment.team_id,
                "queue_id": assignment.queue_id,
                "decision_id": decision_id,
                "sla_kind": sla_kind.value,
                "sla_due_at": due,
                "sla_status": "open",
                "why": assignment.reason,
            },
        )
        metrics.DECISIONS.labels(assignment.kind.value, sla_kind.value).inc()
        if assignment.kind is DecisionKind.FALLBACK:
            log.warning("nobody eligible: lead sent to the fallback queue", extra=log_fields(lead_id=scored.lead_id))
        log.info(
            "lead routed",
            extra=log_fields(lead_id=scored.lead_id, decision_id=decision_id, rep=owner.rep_id if owner else None),
        )
        cloud_out = CloudEvent[RoutingDecision](
            id=decision_id,
            source="/leadflow/router",
            type=CloudEventType.ROUTING_DECISION,
            subject=scored.lead_id,
            time=now,
            correlationid=correlation_id,
            data=decision,
        )
        headers = (("correlation_id", correlation_id.encode()),) if correlation_id else ()
        return OutgoingMessage(
            id=decision_id, topic=Topics.DECISIONS, key=scored.lead_id, value=cloud_out.to_bytes(), headers=headers
        )
