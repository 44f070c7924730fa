"""Kafka adapter: lead events in → stored, scored, staged → lead-scored records out (via the outbox)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.scoring import metrics, repository
from services.scoring.lead_update import LeadUpdate, evaluate_lead, scored_id
from services.scoring.model import ScoringModel
from shared.consumer import Decoded, Record, bind_correlation, header
from shared.db import unit_of_work
from shared.events import CloudEvent, CloudEventType, LeadEvent, LeadScored, Stage, Topics, decode
from shared.kafka import OutgoingMessage, PoisonRecord
from shared.logging import log_fields
from shared.outbox import Outbox

log = logging.getLogger(__name__)
# Leads whose histories are read and scored together. A batch of 500 leads with a dozen events each is ~6,000
# parsed events (~3 KB each: ~18 MB, estimated) held at once, times the partitions scored concurrently, plus a
# re-evaluation page; a chunk bounds that, for one more short query per 100 leads. (Measured: the jobs' pages
# were what raised scoring's peak RSS; see bench/README.md, fifth pass.)
HISTORY_CHUNK = 100


def decode_event(record: Record) -> CloudEvent[LeadEvent]:
    """A lead-event record, or PoisonRecord/ValidationError for what can never be scored."""
    if record.value is None:
        raise PoisonRecord("empty record")
    event = decode(record.value, LeadEvent)
    if event.type != CloudEventType.LEAD_EVENT:
        raise PoisonRecord(f"unexpected CloudEvent type {event.type!r}")
    return event


class ScoringHandler:
    """Applies one partition batch in one transaction; what it publishes goes through the outbox."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        model: Callable[[], ScoringModel],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        # ~3 KB each (2,000: 6 MB): the histories of the leads active right now (a burst of opens, clicks and a
        # form). 10,000 (31 MB) took the service past its 150 MB budget draining 100,000 leads, whose histories
        # come round robin and no cache of this size holds anyway.
        parsed_events: int = 2_000,
        history_chunk: int = HISTORY_CHUNK,
    ) -> None:
        self.sessions = sessions
        self.outbox = outbox
        self.model = model
        self.clock = clock
        self.parsed = repository.ParsedEvents(parsed_events)
        self.history_chunk = history_chunk

    async def apply(self, items: Sequence[Decoded[CloudEvent[LeadEvent]]]) -> list[OutgoingMessage]:
        if items:
            bind_correlation(items[-1][0])
        correlation = {item[1].data.lead_id: header(item[0], "correlation_id") for item in items}
        events = [cloud.data for _, cloud in items]
        model = self.model()
        now = self.clock()
        async with unit_of_work(self.sessions) as session:
            new_ids = await repository.insert_new_events(session, events)
            fresh = [e for e in {e.event_id: e for e in events}.values() if e.event_id in new_ids]
            if not fresh:
                return []  # a redelivery: already applied, and its output already went through the outbox
            by_lead: dict[str, list[LeadEvent]] = defaultdict(list)
            for e in fresh:
                by_lead[e.lead_id].append(e)
            lead_ids = sorted(by_lead)
            stages = await repository.lock_stages(session, lead_ids)
            for e in fresh:
                self.parsed.put(e)  # just decoded from the record: no need to parse its stored copy again
            updates: list[LeadUpdate] = []
            rows: list[dict[str, object]] = []
            messages: list[OutgoingMessage] = []
            # Histories are read, scored and let go a chunk of leads at a time (HISTORY_CHUNK).
            for start in range(0, len(lead_ids), self.history_chunk):
                chunk = lead_ids[start : start + self.history_chunk]
                history = await repository.events_of(session, chunk, self.parsed)
                for lead_id in chunk:
                    update = evaluate_lead(
                        all_events=history[lead_id],
                        new_events=by_lead[lead_id],
                        current_stage=stages.get(lead_id, Stage.LEAD),
                        model=model,
                        now=now,
                    )
                    message_id = scored_id(lead_id, [e.event_id for e in by_lead[lead_id]])
                    row, message = scored_output(
                        update.scored, _latest(history[lead_id]), message_id, correlation.get(lead_id)
                    )
                    updates.append(update)
                    rows.append(row)
                    messages.append(message)
                del history
            await repository.upsert_leads(session, rows)
            await repository.add_stage_history(
                session,
                [
                    {"lead_id": u.scored.lead_id, "from_stage": s.from_stage.value, "to_stage": s.to_stage.value,
                     "event_id": s.event_id, "at": now}
                    for u in updates
                    for s in u.steps
                ],
            )  # fmt: skip
            await self.outbox.add(session, messages)
        for update in updates:
            _observe(update)
        return messages


def _latest(events: Sequence[LeadEvent]) -> datetime:
    return max(e.occurred_at for e in events)


def lead_row(scored: LeadScored, last_event_at: datetime) -> dict[str, object]:
    """The ``leads`` row of a scored lead."""
    return _row(scored, scored.model_dump(mode="json", exclude_none=True), last_event_at)


def scored_message(scored: LeadScored, message_id: str, correlation_id: str | None) -> OutgoingMessage:
    """The lead-scored record of an update, under its deterministic id."""
    return _message(scored, scored.model_dump(mode="json", exclude_none=True), message_id, correlation_id)


def scored_output(
    scored: LeadScored, last_event_at: datetime, message_id: str, correlation_id: str | None
) -> tuple[dict[str, object], OutgoingMessage]:
    """The ``leads`` row and the lead-scored record of an update, from one dump of the scored value."""
    # Why one dump: turning a LeadScored into JSON values is a large share of a batch's CPU, and the row and
    # the record hold the same values.
    dumped = scored.model_dump(mode="json", exclude_none=True)
    return _row(scored, dumped, last_event_at), _message(scored, dumped, message_id, correlation_id)


def _row(scored: LeadScored, dumped: dict[str, Any], last_event_at: datetime) -> dict[str, object]:
    # JSON columns hold the values as published: absent optional fields are left out (read back as None)
    return {
        "lead_id": scored.lead_id,
        "person": dumped.get("person"),
        "fit": scored.fit,
        "intent": scored.intent,
        "total": scored.total,
        "rank": scored.rank.value,
        "temperature": scored.temperature.value,
        "stage": scored.stage.value,
        "bant": dumped["bant"],
        "reasons": dumped["reasons"],
        "model_version": scored.model_version,
        "last_event_at": last_event_at,
        "scored_at": scored.scored_at,
    }


def _message(
    scored: LeadScored, dumped: dict[str, Any], message_id: str, correlation_id: str | None
) -> OutgoingMessage:
    # The bytes of CloudEvent[LeadScored](...).to_bytes() (exclude_none, the same key order), built from the
    # dump in hand instead of validating and dumping the whole envelope again (a test holds them equal).
    cloud: dict[str, Any] = {
        "specversion": "1.0",
        "id": message_id,
        "source": "/leadflow/scoring",
        "type": CloudEventType.LEAD_SCORED,
        "subject": scored.lead_id,
        "time": dumped["scored_at"],
        "datacontenttype": "application/json",
    }
    if correlation_id is not None:
        cloud["correlationid"] = correlation_id
    cloud["data"] = dumped
    headers = (("correlation_id", correlation_id.encode()),) if correlation_id else ()
    return OutgoingMessage(
        id=message_id, topic=Topics.SCORED, key=scored.lead_id, value=orjson.dumps(cloud), headers=headers
    )


def _observe(update: LeadUpdate) -> None:
    metrics.SCORED.labels(update.scored.rank.value).inc()
    for step in update.steps:
        metrics.STAGE_TRANSITIONS.labels(step.from_stage.value, step.to_stage.value).inc()
    for kind, why in update.refused:
        metrics.REFUSED_TRANSITIONS.labels(kind).inc()
        log.info("stage transition refused", extra=log_fields(lead_id=update.scored.lead_id, kind=kind, why=why))
