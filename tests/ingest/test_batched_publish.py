"""A large publish builds its record batches itself: same partitions, same order, nothing lost or doubled."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from services.ingest.domain import to_lead_event
from services.ingest.producer import EventPublisher
from services.ingest.schemas import BehaviorEvent
from shared.events import Channel, LeadEvent, Topics, decode
from shared.kafka import BATCHED_SEND_MIN, KeyHashCachingPartitioner, Publisher, partition_for_key
from tests.conftest import StackUrls

pytestmark = pytest.mark.integration


def test_the_caching_partitioner_picks_what_aiokafkas_default_picks() -> None:
    cached, default = KeyHashCachingPartitioner(), DefaultPartitioner()
    for n in range(3000):
        key = os.urandom(n % 48 + 1)
        partitions = list(range(n % 12 + 1))
        assert cached(key, partitions, partitions) == default(key, partitions, partitions)
        assert partition_for_key(key, partitions) == default(key, partitions, partitions)
    # an unkeyed record still goes to an available partition
    assert cached(None, [0, 1, 2], [2]) == 2


def _events(run: str, people: int, per_person: int, pad: int = 0) -> list[LeadEvent]:
    now = datetime.now(UTC)
    out = []
    for n in range(per_person):
        for p in range(people):
            body = BehaviorEvent(
                email=f"batched-{run}-{p}@example.com", type="page_view",
                url=f"https://site.example/{run}/{n}?p={'x' * pad}", event_id=f"{run}-{p}-{n}",
            )  # fmt: skip
            out.append(to_lead_event(Channel.BEHAVIOR, body, received_at=now, source="test:batched"))
    return out


Found = list[tuple[int, LeadEvent, dict[str, bytes]]]


async def _published(bootstrap: str, starts: dict[TopicPartition, int], leads: set[str], count: int) -> Found:
    """(partition, event, headers) of this test's records, in each partition's order, once ``count`` are there."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(starts))
        for tp, offset in starts.items():
            consumer.seek(tp, offset)
        found: Found = []
        async with asyncio.timeout(30):
            while len(found) < count:
                for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                    for record in records:
                        event = decode(record.value, LeadEvent).data
                        if event.lead_id in leads:
                            found.append((tp.partition, event, dict(record.headers)))
        return found
    finally:
        await consumer.stop()


async def _publish_and_read(stack_urls: StackUrls, batches: Sequence[Sequence[LeadEvent]]) -> tuple[Found, list[int]]:
    """Publish each batch in one call; what the topic then holds of them, and the topic's partitions."""
    connected = Publisher.connect(stack_urls.kafka, client_id="test-batched")
    await connected.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=stack_urls.kafka)
    await consumer.start()
    try:
        numbers = list(await connected.producer.partitions_for(Topics.EVENTS))
        starts = await consumer.end_offsets([TopicPartition(Topics.EVENTS, p) for p in numbers])
        publisher = EventPublisher(connected, timeout_s=15)
        for batch in batches:
            await publisher.publish(batch, correlation_id="corr-batched")
        everything = [e for batch in batches for e in batch]
        found = await _published(stack_urls.kafka, starts, {e.lead_id for e in everything}, len(everything))
        return found, numbers
    finally:
        await consumer.stop()
        await connected.stop()


async def test_a_large_publish_lands_once_each_on_its_keys_partition_in_order(stack_urls: StackUrls) -> None:
    # Given 300 events of 25 people, published in one call (the batched path), after one of a person's events
    # went alone through send()
    run = uuid.uuid4().hex[:8]
    events = _events(run, people=25, per_person=12)
    alone, batch = [events[0]], events[1:]
    assert len(batch) >= BATCHED_SEND_MIN
    # When they are read back from the topic
    found, numbers = await _publish_and_read(stack_urls, [alone, batch])
    # Then each event is there once, with its headers, on the partition its key gives (the one send() used)
    assert sorted(e.event_id for _, e, _ in found) == sorted(e.event_id for e in events)
    partitions = sorted({p for p, _, _ in found})
    assert len(partitions) > 1
    by_lead: dict[str, set[int]] = defaultdict(set)
    for partition, event, headers in found:
        by_lead[event.lead_id].add(partition)
        assert headers["correlation_id"] == b"corr-batched"
        assert partition == partition_for_key(event.lead_id.encode(), numbers)
    assert all(len(parts) == 1 for parts in by_lead.values())
    # and each person's events in the order they were given
    order = {e.event_id: n for n, e in enumerate(events)}
    for lead in by_lead:
        seen = [order[e.event_id] for _, e, _ in found if e.lead_id == lead]
        assert seen == sorted(seen)


async def test_a_publish_larger_than_a_record_batch_fills_several_in_order(stack_urls: StackUrls) -> None:
    # Given 500 events of ~1.5 KB of one person: one partition, more than one 256 KB record batch
    run = uuid.uuid4().hex[:8]
    events = _events(run, people=1, per_person=500, pad=1200)
    # When published in one call
    found, _ = await _publish_and_read(stack_urls, [events])
    # Then all arrive once, on one partition, in order
    assert [e.event_id for _, e, _ in found] == [e.event_id for e in events]
    assert len({p for p, _, _ in found}) == 1
