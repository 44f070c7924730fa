"""Publishes normalized events to Kafka and waits for the broker's acknowledgement."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from shared.events import CloudEvent, CloudEventType, LeadEvent, Topics
from shared.kafka import PRODUCER_RESET_ERRORS, Publisher, partition_for_key

# From this many events a publish builds its record batches itself, one per partition (aiokafka's
# create_batch/send_batch), instead of a send() per record: half the producer's CPU per record (a future, an
# accumulator lookup and a partitioner call each). Fewer, as a single post's one, go through send(), where
# concurrent requests share batches by lingering.
BATCHED_PUBLISH_MIN = 32


class PublishUnavailable(RuntimeError):
    """Kafka did not acknowledge in time: the caller answers 503, never 202."""


# Parametrized once: ``CloudEvent[LeadEvent]`` looks its class up in pydantic's generic cache on every use, which
# showed in ingest's profile as a few per cent of each request.
LeadCloudEvent = CloudEvent[LeadEvent]


def to_cloud_event(event: LeadEvent, correlation_id: str) -> CloudEvent[LeadEvent]:
    return LeadCloudEvent(
        id=event.event_id,
        source=f"/leadflow/ingest/{event.source}",
        type=CloudEventType.LEAD_EVENT,
        subject=event.lead_id,
        time=event.occurred_at,
        correlationid=correlation_id,
        data=event,
    )


def cloud_event_bytes(event: LeadEvent, correlation_id: str) -> bytes:
    """``to_cloud_event(event, correlation_id).to_bytes()``, byte for byte, without building the envelope model.

    The envelope's fields are known strings here and its ``time`` is the event's ``occurred_at``, already
    rendered by the same serializer inside ``data``; skipping the second model and its dump halves the cost of
    a record (a batch builds 1,000). The keys are in CloudEvent's field order; a test holds the bytes equal.
    """
    data = event.model_dump(mode="json", exclude_none=True)
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": event.event_id,
            "source": f"/leadflow/ingest/{event.source}",
            "type": CloudEventType.LEAD_EVENT,
            "subject": event.lead_id,
            "time": data["occurred_at"],
            "datacontenttype": "application/json",
            "correlationid": correlation_id,
            "data": data,
        }
    )


class EventPublisher:
    """Publishes through the shared publisher once it is connected; until then every publish is unavailable."""

    def __init__(self, connected: Publisher | None, timeout_s: float) -> None:
        self.connected = connected
        self.timeout_s = timeout_s

    @property
    def producer(self) -> AIOKafkaProducer | None:
        """The producer in use now (a broken one is replaced: see shared.kafka.Publisher)."""
        return self.connected.producer if self.connected is not None else None

    async def publish(self, events: Sequence[LeadEvent], correlation_id: str | None = None) -> None:
        """Durably publish (acks=all, idempotent) or raise PublishUnavailable."""
        if not events:
            return
        if self.connected is None:
            raise PublishUnavailable("not connected to Kafka yet")
        try:
            producer = await self.connected.started_producer()
        except Exception as exc:  # a replacement producer that cannot reach the broker yet
            raise PublishUnavailable(str(exc) or type(exc).__name__) from exc
        cid = correlation_id or uuid.uuid4().hex
        headers = [("correlation_id", cid.encode()), ("ce_type", CloudEventType.LEAD_EVENT.encode())]
        try:
            futures: list[asyncio.Future[object]] = []
            # One deadline for the enqueueing and one for the acknowledgements, as before, but without a
            # wait_for (a new task) around every send: that was a large share of a 1,000-event batch's cost.
            async with asyncio.timeout(self.timeout_s):
                if len(events) >= BATCHED_PUBLISH_MIN:
                    futures = await _send_batches(producer, events, cid, headers)
                else:
                    for event in events:
                        value = cloud_event_bytes(event, cid)
                        futures.append(
                            await producer.send(Topics.EVENTS, value, key=event.lead_id.encode(), headers=headers)
                        )
            async with asyncio.timeout(self.timeout_s):
                await asyncio.gather(*futures)
        except Exception as exc:  # KafkaError, timeout: the event is not known to be stored
            if isinstance(exc, PRODUCER_RESET_ERRORS):
                # Out of step with the broker after an outage: every later send would fail the same way.
                await self.connected.replace(producer, exc)
            raise PublishUnavailable(str(exc) or type(exc).__name__) from exc


async def _send_batches(
    producer: AIOKafkaProducer, events: Sequence[LeadEvent], cid: str, headers: list[tuple[str, bytes]]
) -> list[asyncio.Future[object]]:
    """Enqueue the events as record batches, one per partition (more when one fills), each key on the partition
    send() would give it, and each partition's records in the order given; one future per batch."""
    partitions = list(await producer.partitions_for(Topics.EVENTS))  # as send() lists them
    open_batches: dict[int, Any] = {}
    futures: list[asyncio.Future[object]] = []
    for event in events:
        key = event.lead_id.encode()
        partition = partition_for_key(key, partitions)
        value = cloud_event_bytes(event, cid)
        batch = open_batches.get(partition)
        if batch is None or batch.append(timestamp=None, key=key, value=value, headers=headers) is None:
            if batch is not None:  # full: send it, and start the next one for this partition
                futures.append(await producer.send_batch(batch, Topics.EVENTS, partition=partition))
            batch = open_batches[partition] = producer.create_batch()
            if batch.append(timestamp=None, key=key, value=value, headers=headers) is None:
                raise ValueError(f"event {event.event_id} is larger than a record batch")
    for partition, batch in open_batches.items():
        futures.append(await producer.send_batch(batch, Topics.EVENTS, partition=partition))
    return futures
