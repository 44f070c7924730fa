"""Kafka adapter: routing decisions and SLA events in → Slack messages and emails out, exactly once as the
rep sees it.

Per batch: record every owed message and mark those still unsent ``sending`` (one transaction). Then send each,
and mark it ``sent`` the moment the provider accepted it (marks finishing together share a commit; a database
that is away then is waited for, not answered by sending again). A redelivered record
finds its keys sent and sends nothing. A crash after ``sending`` leaves the outcome unknown: before a Slack
message is sent again, Slack is asked whether it already holds a message carrying this key in its metadata
(``conversations.history``), so a message Slack accepted is never posted twice. Email has no such question:
it is re-sent with the same Message-ID, which mail clients collapse.

A provider's permanent refusal (bad channel, bad token) marks the message failed and dead-letters the record
it came from, with the reason; the other medium is still sent. A transient fault raises, so the batch is
retried with its offsets uncommitted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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
from services.notifier.senders import Mailer, PermanentSendError, SlackClient, failure_reason
from services.notifier.settings import EMAIL, SLACK
from services.notifier.sla_alerts import (
    render_email_escalation,
    render_email_reminder,
    render_slack_escalation,
    render_slack_reminder,
)
from services.notifier.thank_you import render_thank_you, wants_thank_you
from shared.coalesce import Coalescer
from shared.consumer import Decoded, Record, bind_correlation
from shared.db import unit_of_work
from shared.events import (
    CloudEvent,
    CloudEventType,
    RoutingDecision,
    SlaEvent,
    SlaEventKind,
    SlaKind,
    Topics,
    decode,
)
from shared.kafka import OutgoingMessage, PoisonRecord, dead_letter_message, is_transient
from shared.logging import log_fields
from shared.metrics import DEAD_LETTERS, NOTIFICATION_FAILURES
from shared.outbox import Outbox

log = logging.getLogger(__name__)
SERVICE = "notifier"
# The metadata event type our Slack messages carry; with the idempotency key, it finds a message again.
SLACK_EVENT_TYPE = "leadflow_alert"
# How long a "sent" mark is retried while the database is away, before the batch fails (and re-sends).
MARK_RETRY_FOR_S = 300.0
MARK_RETRY_FIRST_S = 0.2
MARK_RETRY_MAX_S = 5.0
# Slack's clock and ours may disagree a little: look back this far before the row was recorded.
_HISTORY_MARGIN = timedelta(minutes=5)

Incoming = CloudEvent[RoutingDecision] | CloudEvent[SlaEvent]


def decode_record(record: Record) -> Incoming:
    """A routing decision or an SLA event, by topic; anything else is poison."""
    if record.value is None:
        raise PoisonRecord("empty record")
    if record.topic == Topics.SLA:
        sla = decode(record.value, SlaEvent)
        if sla.type != CloudEventType.SLA_EVENT:
            raise PoisonRecord(f"unexpected CloudEvent type {sla.type!r}")
        return sla
    return decode_decision(record)


def decode_decision(record: Record) -> CloudEvent[RoutingDecision]:
    """A routing decision, or PoisonRecord."""
    if record.value is None:
        raise PoisonRecord("empty record")
    event = decode(record.value, RoutingDecision)
    if event.type != CloudEventType.ROUTING_DECISION:
        raise PoisonRecord(f"unexpected CloudEvent type {event.type!r}")
    return event


@dataclass(frozen=True)
class Owed:
    """One message owed to one recipient on one medium, under its idempotency key."""

    key: str
    decision_id: str
    lead_id: str
    kind: str  # assignment | reminder | escalation | thank_you
    medium: str  # slack | email
    message: SlackMessage | EmailMessage
    received_at: datetime | None = None  # when the lead's event arrived: measures lead-to-alert


ALL_MEDIA = SLACK | EMAIL


def owed_for_decision(
    decision: RoutingDecision,
    now: datetime,
    console_url: str | None,
    material_url: str | None = None,
    media: frozenset[str] = ALL_MEDIA,
) -> list[Owed]:
    """What the rep (or, for the fallback queue, its manager) is owed for one decision, and the seminar
    attendee's thank-you when the decision asks for one; only in ``media`` (the others are not even rendered)."""
    email_to: str | None
    if decision.owner is None and decision.queue_contact is not None:
        # Nobody was eligible: the queue's manager is alerted on Slack and by email.
        contact = decision.queue_contact
        decision = decision.model_copy(update={"queue": contact.slack_id})
        email_to = contact.email
    else:
        email_to = decision.owner.email if decision.owner else None
    received = decision.lead.trigger.received_at
    kind = "assignment"

    def owe(medium: str, message: SlackMessage | EmailMessage, what: str = kind) -> Owed:
        key = idempotency_key(decision.decision_id, f"{what}:{medium}")
        return Owed(key, decision.decision_id, decision.lead_id, what, medium, message, received)

    if decision.sla_kind is SlaKind.SEMINAR_FOLLOW_UP:
        # The lead keeps its owner: the action is the attendee's thank-you (replies go to the owner), not a
        # second "a lead was assigned to you" alert.
        if "email" in media and wants_thank_you(decision):
            return [owe("email", render_thank_you(decision, material_url=material_url), "thank_you")]
        return []
    owed: list[Owed] = []
    if "slack" in media:
        try:
            owed.append(owe("slack", render_slack_assignment(decision, now=now, console_url=console_url)))
        except NoRecipientError:
            log.warning("no Slack recipient", extra=log_fields(decision_id=decision.decision_id))
    if "email" in media:
        if email_to:
            mail = render_email_assignment(decision, now=now, console_url=console_url)
            if mail.to != email_to:
                mail = dataclasses.replace(mail, to=email_to)
            owed.append(owe("email", mail))
        if wants_thank_you(decision):
            owed.append(owe("email", render_thank_you(decision, material_url=material_url), "thank_you"))
    return owed


def owed_for_sla(event: SlaEvent, now: datetime, media: frozenset[str] = ALL_MEDIA) -> list[Owed]:
    """A reminder to the owner, or an escalation to the manager and the optional team channel (in ``media``)."""
    base = event.sla_event_id
    # (target, medium, render): rendered only for the media asked for
    pairs: list[tuple[str, str, Callable[[], SlackMessage | EmailMessage]]] = []
    if event.kind == SlaEventKind.REMINDER:
        kind = "reminder"
        if event.owner is not None:
            pairs.append(("slack", "slack", lambda: render_slack_reminder(event, now=now)))
            pairs.append(("email", "email", lambda: render_email_reminder(event, now=now)))
    else:
        kind = "escalation"
        manager = event.escalate_to
        if manager is not None and manager.slack_id:
            pairs.append(("slack", "slack", lambda: render_slack_escalation(event, now=now)))
        if manager is not None and manager.email:
            pairs.append(("email", "email", lambda: render_email_escalation(event, now=now)))
        team_channel = event.team_channel
        if team_channel:
            pairs.append(("team", "slack", lambda: render_slack_escalation(event, now=now, channel=team_channel)))
    if not pairs and "slack" in media:  # said once, by the Slack loop (each medium's loop reads every event)
        log.warning("SLA event names nobody to tell", extra=log_fields(sla_event_id=base, kind=kind))
    return [
        Owed(idempotency_key(base, f"{kind}:{target}"), event.decision_id, event.lead_id, kind, medium, render())
        for target, medium, render in pairs
        if medium in media
    ]


class NotifierHandler:
    """Applies a batch of decisions and SLA events: record, send, mark; dead-letter what is refused."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        slack: SlackClient,
        mailer: Mailer,
        console_url: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        outbox: Outbox | None = None,
        material_url: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.slack = slack
        self.mailer = mailer
        self.console_url = console_url
        self.clock = clock
        self.outbox = outbox
        self.material_url = material_url
        self._sent_marks: Coalescer[tuple[str, str], None] = Coalescer(self._commit_sent, name="notifier-sent-marks")

    async def _commit_sent(self, refs: list[tuple[str, str]]) -> None:
        # The provider took these messages: that fact must be kept. A database that is away right now is waited
        # for (the batch failing instead would send them all again on its retry); only a crash loses the mark.
        delay = MARK_RETRY_FIRST_S
        deadline = time.monotonic() + MARK_RETRY_FOR_S
        while True:
            try:
                async with unit_of_work(self.sessions) as session:
                    await repository.mark_sent(session, refs, self.clock())
                return
            except Exception as exc:
                if not is_transient(exc) or time.monotonic() + delay > deadline:
                    raise
                log.warning(
                    "cannot record sent messages yet, retrying",
                    extra=log_fields(count=len(refs), error=type(exc).__name__),
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MARK_RETRY_MAX_S)

    def owed(self, cloud: Incoming, now: datetime, media: frozenset[str] = ALL_MEDIA) -> list[Owed]:
        """Every message in ``media`` one incoming record asks for."""
        if isinstance(cloud.data, SlaEvent):
            return owed_for_sla(cloud.data, now, media)
        return owed_for_decision(cloud.data, now, self.console_url, self.material_url, media)

    def delivering(
        self, media: frozenset[str]
    ) -> Callable[[Sequence[Decoded[Incoming]]], Awaitable[list[OutgoingMessage]]]:
        """``apply`` for a consumer loop that delivers only these media (the service runs Slack and email apart)."""

        async def apply(items: Sequence[Decoded[Incoming]]) -> list[OutgoingMessage]:
            return await self.apply(items, media=media)

        return apply

    async def apply(
        self, items: Sequence[Decoded[Incoming]], media: frozenset[str] = ALL_MEDIA
    ) -> list[OutgoingMessage]:
        """Record what the batch owes in ``media``, send what is unsent, return the dead letters."""
        now = self.clock()
        # One delivery per key: Kafka may hand the same decision twice in one batch (a producer retry, an outbox
        # relay racing a flush), and both copies would otherwise be sent concurrently before either is marked.
        by_key: dict[str, tuple[Record, Owed]] = {}
        for record, cloud in items:
            for o in self.owed(cloud, now, media):
                by_key.setdefault(o.key, (record, o))
        owed = list(by_key.values())
        if items:
            bind_correlation(items[-1][0])
        if not owed:
            return []
        async with unit_of_work(self.sessions) as session:
            await repository.record(
                session,
                [
                    {"key": o.key, "decision_id": o.decision_id, "lead_id": o.lead_id, "medium": o.medium,
                     "kind": o.kind, "status": "pending"}
                    for _, o in owed
                ],
            )  # fmt: skip
            unsent = await repository.unsent(session, [o.key for _, o in owed])
            # Marked before any attempt, all in this one statement: a crash from here on means "check first".
            await repository.mark_sending(session, list(unsent))
        results = await asyncio.gather(
            *(self._deliver(record, o, unsent[o.key]) for record, o in owed if o.key in unsent),
            return_exceptions=True,
        )
        dead = [r for r in results if isinstance(r, OutgoingMessage)]
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            # Every other message of the batch had its chance; the batch is retried for the ones that failed.
            raise failures[0]
        return dead

    async def _deliver(self, record: Record, owed: Owed, row: repository.Unsent) -> OutgoingMessage | None:
        if row.status == "sending" and isinstance(owed.message, SlackMessage):
            found = await self._already_posted(owed, owed.message, row)
            if found is not None:
                await self._mark_sent(owed, found, started=None)
                return None
        started = time.perf_counter()
        try:
            if isinstance(owed.message, SlackMessage):
                ref = await self.slack.post_message(
                    owed.message, metadata={"event_type": SLACK_EVENT_TYPE, "event_payload": {"key": owed.key}}
                )
            else:
                ref = await self.mailer.send(owed.message, owed.key)
        except PermanentSendError as exc:
            return await self._refused(record, owed, str(exc))
        await self._mark_sent(owed, ref, started=started)
        return None

    async def _already_posted(self, owed: Owed, message: SlackMessage, row: repository.Unsent) -> str | None:
        try:
            found = await self.slack.find_posted(
                message.channel, SLACK_EVENT_TYPE, owed.key, since=row.created_at - _HISTORY_MARGIN
            )
        except PermanentSendError as exc:
            # Cannot look (e.g. the token lacks im:history): a duplicate beats an alert never sent.
            metrics.DELIVERY_CHECKS.labels("unknown").inc()
            log.warning("cannot check Slack before re-sending", extra=log_fields(key=owed.key, error=str(exc)))
            return None
        metrics.DELIVERY_CHECKS.labels("found" if found else "absent").inc()
        return found

    async def _mark_sent(self, owed: Owed, ref: str, *, started: float | None) -> None:
        # Marks arriving together share one transaction (a group commit); each waits until its own is committed.
        await self._sent_marks.submit([(owed.key, ref)])
        metrics.SENT.labels(owed.medium, "sent").inc()
        if started is not None:
            metrics.SEND_LATENCY.labels(owed.medium).observe(time.perf_counter() - started)
        if owed.medium == "slack" and owed.kind == "assignment" and owed.received_at is not None:
            metrics.LEAD_TO_ALERT.observe(max(0.0, (self.clock() - owed.received_at).total_seconds()))
        log.info(
            "notification sent",
            extra=log_fields(decision_id=owed.decision_id, lead_id=owed.lead_id, medium=owed.medium, kind=owed.kind),
        )

    async def _refused(self, record: Record, owed: Owed, error: str) -> OutgoingMessage:
        """Mark the message failed and dead-letter its record, in one transaction with the outbox."""
        metrics.SENT.labels(owed.medium, "failed").inc()
        metrics.PERMANENT_FAILURES.labels(owed.medium, owed.kind).inc()
        NOTIFICATION_FAILURES.labels(owed.medium, failure_reason(error)).inc()
        DEAD_LETTERS.labels(SERVICE, record.topic).inc()
        log.error(
            "notification refused for good, dead-lettered",
            extra=log_fields(decision_id=owed.decision_id, medium=owed.medium, kind=owed.kind, error=error[:200]),
        )
        letter = dead_letter_message(record, f"{SERVICE}/{owed.medium}", f"{owed.medium} refused {owed.key}: {error}")
        # One record may owe several messages: each refusal is its own dead letter.
        letter = dataclasses.replace(letter, id=f"{letter.id}:{owed.key}")
        async with unit_of_work(self.sessions) as session:
            await repository.mark(session, owed.key, status="failed", now=self.clock(), error=error[:500])
            if self.outbox is not None:
                await self.outbox.add(session, [letter])
        return letter
