"""The one path every accepted event takes: drop what was already accepted, publish durably, remember it.

Order matters for "never lose, never double": an event id is remembered only after Kafka acknowledged it,
so a 503 leaves nothing behind and the sender's retry publishes it; a repeat within the window is answered
from what was remembered and publishes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingest import metrics, repository
from services.ingest.producer import EventPublisher
from shared.db import unit_of_work
from shared.events import LeadEvent
from shared.kafka import is_transient
from shared.logging import log_fields

log = logging.getLogger(__name__)


class StoreUnavailable(RuntimeError):
    """Ingest's database did not answer: duplicates cannot be told apart, so the caller answers 503."""


@dataclass
class Intake:
    publisher: EventPublisher
    sessions: async_sessionmaker[AsyncSession]
    window: timedelta

    async def accept(self, events: Sequence[LeadEvent], correlation_id: str | None, now: datetime) -> set[str]:
        """Publish the events not accepted before (raises PublishUnavailable); returns the ids that were repeats."""
        unique = list({e.event_id: e for e in events}.values())
        if not unique:
            return set()
        try:
            async with unit_of_work(self.sessions) as session:
                seen = await repository.already_accepted(session, [e.event_id for e in unique], now - self.window)
        except Exception as exc:
            if is_transient(exc):
                raise StoreUnavailable(type(exc).__name__) from exc
            raise
        fresh = [e for e in unique if e.event_id not in seen]
        if fresh:
            await self.publisher.publish(fresh, correlation_id)
            try:
                async with unit_of_work(self.sessions) as session:
                    await repository.mark_accepted(session, fresh, now)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                # The events are in Kafka, so the answer stays 202; a repeat may be published again and is
                # then dropped by the consumers' own dedupe by event id.
                log.warning(
                    "accepted events not remembered", extra=log_fields(count=len(fresh), error=type(exc).__name__)
                )
        repeats = {e.event_id for e in events} & seen
        for event in fresh:
            metrics.EVENTS.labels(event.channel.value, event.kind.value).inc()
        if repeats:
            metrics.DUPLICATES.inc(len(repeats))
        return repeats
