"""Kafka adapter: routing decisions in → Slack message and email out, each exactly once as the rep sees it.

Order per batch: record every owed message as pending (one transaction), then send what is still pending,
marking each one sent the moment its provider accepted it. A redelivered decision finds its keys already
sent and sends nothing. A transient provider fault raises, so the batch is retried with its offsets
uncommitted; what was already marked sent is not sent again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifier import metrics, repository
from services.notifier.domain import (
    EmailMessage,
    NoRecipientError,
    SlackMessage,
    idempotency_key,
    render_email_assignment,
    render_slack_assignment,
)
from services.notifier.senders import Mailer, PermanentSendError, SlackClient
from shared.consumer import Decoded, Record, bind_correlation
from shared.db import unit_of_work
from shared.events import CloudEvent, CloudEventType, RoutingDecision, decode
from shared.kafka import OutgoingMessage, PoisonRecord
from shared.logging import log_fields

log = logging.getLogger(__name__)
KIND = "assignment"


def decode_decision(record: Record) -> CloudEvent[RoutingDecision]:
    if record.value is None:
        raise PoisonRecord("empty record")
    event = decode(record.value, RoutingDecision)
    if event.type != CloudEventType.ROUTING_DECISION:
        raise PoisonRecord(f"unexpected CloudEvent type {event.type!r}")
    return event


@dataclass(frozen=True)
class Owed:
    key: str
    decision: RoutingDecision
    medium: str
    message: SlackMessage | EmailMessage


def owed_messages(decision: RoutingDecision, now: datetime, console_url: str | None) -> list[Owed]:
    """What the rep (or, for the fallback queue, its manager) is owed for one decision."""
    email_to: str | None
    if decision.owner is None and decision.queue_contact is not None:
        # Nobody was eligible: the queue's manager is alerted on Slack and by email.
        contact = decision.queue_contact
        decision = decision.model_copy(update={"queue": contact.slack_id})
        email_to = contact.email
    else:
        email_to = decision.owner.email if decision.owner else None
    owed: list[Owed] = []
    try:
        slack = render_slack_assignment(decision, now=now, console_url=console_url)
        owed.append(Owed(idempotency_key(decision.decision_id, f"{KIND}:slack"), decision, "slack", slack))
    except NoRecipientError:
        log.warning("no Slack recipient", extra=log_fields(decision_id=decision.decision_id))
    if email_to:
        mail = render_email_assignment(decision, now=now, console_url=console_url)
        if mail.to != email_to:
            mail = EmailMessage(to=email_to, subject=mail.subject, text=mail.text, html=mail.html)
        owed.append(Owed(idempotency_key(decision.decision_id, f"{KIND}:email"), decision, "email", mail))
    return owed


class NotifierHandler:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        slack: SlackClient,
        mailer: Mailer,
        console_url: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.slack = slack
        self.mailer = mailer
        self.console_url = console_url
        self.clock = clock

    async def apply(self, items: Sequence[Decoded[CloudEvent[RoutingDecision]]]) -> list[OutgoingMessage]:
        now = self.clock()
        owed = [o for _, cloud in items for o in owed_messages(cloud.data, now, self.console_url)]
        if items:
            bind_correlation(items[-1][0])
        if not owed:
            return []
        async with unit_of_work(self.sessions) as session:
            await repository.record(
                session,
                [
                    {"key": o.key, "decision_id": o.decision.decision_id, "lead_id": o.decision.lead_id,
                     "medium": o.medium, "kind": KIND, "status": "pending"}
                    for o in owed
                ],
            )  # fmt: skip
            pending = await repository.unsent(session, [o.key for o in owed])
        await asyncio.gather(*(self._send(o) for o in owed if o.key in pending))
        return []

    async def _send(self, owed: Owed) -> None:
        started = time.perf_counter()
        try:
            if isinstance(owed.message, SlackMessage):
                ref = await self.slack.post_message(
                    owed.message, metadata={"event_type": "leadflow_alert", "event_payload": {"key": owed.key}}
                )
            else:
                ref = await self.mailer.send(owed.message, owed.key)
        except PermanentSendError as exc:
            metrics.SENT.labels(owed.medium, "failed").inc()
            log.error(
                "notification failed permanently",
                extra=log_fields(decision_id=owed.decision.decision_id, medium=owed.medium, error=str(exc)),
            )
            async with unit_of_work(self.sessions) as session:
                await repository.mark(session, owed.key, status="failed", now=self.clock(), error=str(exc)[:500])
            return
        metrics.SEND_LATENCY.labels(owed.medium).observe(time.perf_counter() - started)
        async with unit_of_work(self.sessions) as session:
            await repository.mark(session, owed.key, status="sent", now=self.clock(), provider_ref=ref)
        metrics.SENT.labels(owed.medium, "sent").inc()
        if owed.medium == "slack":
            received = owed.decision.lead.trigger.received_at
            metrics.LEAD_TO_ALERT.observe(max(0.0, (self.clock() - received).total_seconds()))
        log.info(
            "notification sent",
            extra=log_fields(decision_id=owed.decision.decision_id, lead_id=owed.decision.lead_id, medium=owed.medium),
        )
