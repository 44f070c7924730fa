"""Publishes normalized events to Kafka and waits for the broker's acknowledgement."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from shared.events import CloudEvent, CloudEventType, LeadEvent, Topics


class PublishUnavailable(RuntimeError):
    """Kafka did not acknowledge in time: the caller answers 503, never 202."""


def to_cloud_event(event: LeadEvent, correlation_id: str) -> CloudEvent[LeadEvent]:
    return CloudEvent[LeadEvent](
        id=event.event_id,
        source=f"/leadflow/ingest/{event.source}",
        type=CloudEventType.LEAD_EVENT,
        subject=event.lead_id,
        time=event.occurred_at,
        correlationid=correlation_id,
        data=event,
    )


class EventPublisher:
    """Publishes through the producer once it is connected; until then every publish is unavailable."""

    def __init__(self, producer: AIOKafkaProducer | None, timeout_s: float) -> None:
        self.producer = producer
        self.timeout_s = timeout_s

    async def publish(self, events: Sequence[LeadEvent], correlation_id: str | None = None) -> None:
        """Durably publish (acks=all, idempotent) or raise PublishUnavailable."""
        if not events:
            return
        if self.producer is None:
            raise PublishUnavailable("not connected to Kafka yet")
        cid = correlation_id or uuid.uuid4().hex
        headers = [("correlation_id", cid.encode()), ("ce_type", CloudEventType.LEAD_EVENT.encode())]
        try:
            futures = []
            # One deadline for the enqueueing and one for the acknowledgements, as before, but without a
            # wait_for (a new task) around every send: that was a large share of a 1,000-event batch's cost.
            async with asyncio.timeout(self.timeout_s):
                for event in events:
                    value = to_cloud_event(event, cid).to_bytes()
                    futures.append(
                        await self.producer.send(Topics.EVENTS, value, key=event.lead_id.encode(), headers=headers)
                    )
            async with asyncio.timeout(self.timeout_s):
                await asyncio.gather(*futures)
        except Exception as exc:  # KafkaError, timeout: the event is not known to be stored
            raise PublishUnavailable(str(exc) or type(exc).__name__) from exc
