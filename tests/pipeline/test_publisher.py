"""The shared publisher heals an idempotent producer that fell out of step with the broker, and Kafka clients
space their metadata refreshes instead of spinning while no broker answers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import OutOfOrderSequenceNumber

from shared.kafka import OutgoingMessage, Publisher, pace_metadata_updates
from tests.conftest import StackUrls

pytestmark = pytest.mark.integration


@pytest.fixture
async def topic(stack_urls: StackUrls) -> AsyncIterator[str]:
    name = f"test-publisher-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack_urls.kafka)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
        yield name
    finally:
        await admin.delete_topics([name])
        await admin.close()


def _messages(topic: str, run: str, first: int, count: int) -> list[OutgoingMessage]:
    numbers = range(first, first + count)
    return [OutgoingMessage(id=f"{run}-{n}", topic=topic, key="k", value=f"{run}-{n}".encode()) for n in numbers]


async def _values(kafka: str, topic: str) -> list[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        values: list[str] = []
        while await consumer.position(tp) < end:
            batches = await consumer.getmany(tp, timeout_ms=1000)
            values += [r.value.decode() for r in batches.get(tp, []) if r.value is not None]
        return values
    finally:
        await consumer.stop()


async def test_a_producer_out_of_step_with_the_broker_is_replaced_and_the_resend_goes_through(
    stack_urls: StackUrls, topic: str
) -> None:
    # Given a publisher that has published, whose producer's sequence numbers then fall out of step with the
    # broker (what an expired batch during a broker outage leaves behind)
    publisher = Publisher.connect(stack_urls.kafka, client_id="test-publisher")
    await publisher.start()
    run = uuid.uuid4().hex[:6]
    try:
        await publisher.publish(_messages(topic, run, 0, 3))
        broken = publisher.producer
        broken._txn_manager.increment_sequence_number(TopicPartition(topic, 0), 5)

        # When it publishes: the broker refuses the out-of-order batch, and the publisher replaces its producer
        with pytest.raises(OutOfOrderSequenceNumber):
            await publisher.publish(_messages(topic, run, 3, 2))
        assert publisher.producer is not broken
        assert publisher.replaced == 1

        # Then the caller's retry goes through the new producer, and the topic holds every message once
        await publisher.publish(_messages(topic, run, 3, 2))
        assert await _values(stack_urls.kafka, topic) == [f"{run}-{n}" for n in range(5)]
    finally:
        await publisher.stop()


class _NoBroker:
    """A client whose metadata refresh fails at once, as aiokafka's does while the only broker refuses connections."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def force_metadata_update(self) -> asyncio.Future[bool]:
        loop = asyncio.get_running_loop()
        self.calls.append(loop.time())
        failed: asyncio.Future[bool] = loop.create_future()
        failed.set_result(False)
        return failed


async def test_failed_metadata_refreshes_back_off_instead_of_spinning() -> None:
    # Given a client whose refreshes fail immediately, paced from 0.1 s up to 0.4 s
    client = _NoBroker()
    pace_metadata_updates(client, first_s=0.1, max_s=0.4)  # type: ignore[arg-type]

    # When a caller asks for a refresh in a tight loop (as aiokafka's sender does with no known leader)
    for _ in range(5):
        assert await client.force_metadata_update() is False

    # Then the attempts are spaced 0.2, 0.4, 0.4, 0.4 s apart, not back to back
    gaps = [b - a for a, b in zip(client.calls, client.calls[1:], strict=False)]
    assert len(gaps) == 4
    assert all(gap >= expected - 0.01 for gap, expected in zip(gaps, [0.2, 0.4, 0.4, 0.4], strict=True)), gaps
