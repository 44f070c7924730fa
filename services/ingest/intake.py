"""The one path every accepted event takes: drop what was already accepted, publish durably, remember it.

Order matters for "never lose, never double": an event id is remembered only after Kafka acknowledged it,
so a 503 leaves nothing behind and the sender's retry publishes it; a repeat within the window is answered
from what was remembered and publishes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingest import metrics, repository
from services.ingest.producer import EventPublisher
from shared.coalesce import Coalescer
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
    # Concurrent requests share one lookup and one insert (see coalesce.py): one transaction for many events.
    _lookup: Coalescer[tuple[str, datetime], dict[str, datetime]] = field(init=False, repr=False)
    _remember: Coalescer[tuple[LeadEvent, datetime], None] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._lookup = Coalescer(self._lookup_bulk)
        self._remember = Coalescer(self._remember_bulk)

    async def _lookup_bulk(self, items: list[tuple[str, datetime]]) -> dict[str, datetime]:
        async with unit_of_work(self.sessions) as session:
            return await repository.accepted_since(session, [i for i, _ in items], min(s for _, s in items))

    async def _remember_bulk(self, items: list[tuple[LeadEvent, datetime]]) -> None:
        async with unit_of_work(self.sessions) as session:
            await repository.mark_accepted(session, items)

    async def accept(self, events: Sequence[LeadEvent], correlation_id: str | None, now: datetime) -> set[str]:
        """Publish the events not accepted before (raises PublishUnavailable); returns the ids that were repeats."""
        unique = list({e.event_id: e for e in events}.values())
        if not unique:
            return set()
        since = now - self.window
        try:
            accepted = await self._lookup.submit([(e.event_id, since) for e in unique])
        except Exception as exc:
            if is_transient(exc):
                raise StoreUnavailable(type(exc).__name__) from exc
            raise
        # the group's lookup used the earliest window start among its callers: apply this caller's own
        seen = {e.event_id for e in unique if e.event_id in accepted and accepted[e.event_id] >= since}
        fresh = [e for e in unique if e.event_id not in seen]
        if fresh:
            await self.publisher.publish(fresh, correlation_id)
            try:
                await self._remember.submit([(e, now) for e in fresh])
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
