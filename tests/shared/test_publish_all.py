"""publish_all (the outbox's and every consumer's publish): a large publish is batched by partition, and lands
exactly as record-by-record sends would have put it; publish_stream publishes a stream a window at a time."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.kafka import (
    BATCHED_SEND_MIN,
    OutgoingMessage,
    OutgoingRecord,
    create_producer,
    publish_all,
    publish_stream,
)
from tests.conftest import StackUrls

pytestmark = pytest.mark.integration

# (topic, partition, value, headers) of a record read back, in each partition's order
Read = tuple[str, int, bytes, dict[str, bytes]]


@asynccontextmanager
async def scratch_topics(bootstrap: str, partitions: Mapping[str, int]) -> AsyncIterator[AIOKafkaProducer]:
    """Fresh topics with these partition counts, and a started LeadFlow producer; both gone afterwards."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(t, n, 1) for t, n in partitions.items()])
    producer = create_producer(bootstrap, client_id="test-publish")
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()
        await admin.delete_topics(list(partitions))
        await admin.close()


async def read_back(bootstrap: str, partitions: Mapping[str, int], count: int) -> list[Read]:
    """The first ``count`` records of these topics."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(t, p) for t, n in partitions.items() for p in range(n)])
        found: list[Read] = []
        async with asyncio.timeout(30):
            while len(found) < count:
                for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                    found += [(tp.topic, tp.partition, r.value, dict(r.headers)) for r in records]
        return found
    finally:
        await consumer.stop()


async def test_a_large_publish_over_two_topics_keeps_partitions_order_and_headers(stack_urls: StackUrls) -> None:
    # Given two fresh topics of 3 and 5 partitions, and a producer that already sent one record per key alone
    run = uuid.uuid4().hex[:8]
    topics = {f"leadflow.test.batched-{run}-a": 3, f"leadflow.test.batched-{run}-b": 5}
    keys = [f"lead-{run}-{n}" for n in range(9)]
    async with scratch_topics(stack_urls.kafka, topics) as producer:
        alone = [OutgoingMessage(f"{k}/0", t, k, f"{k}/0".encode()) for t in topics for k in keys]
        for message in alone:
            await publish_all(producer, [message])
        # When 90 more are published in one call, each with a header of its own
        batch = [
            OutgoingMessage(f"{k}/{n}", t, k, f"{k}/{n}".encode(), (("correlation_id", f"c-{k}-{n}".encode()),))
            for n in range(1, 6)
            for t in topics
            for k in keys
        ]
        assert len(batch) >= BATCHED_SEND_MIN
        await publish_all(producer, batch)
        found = await read_back(stack_urls.kafka, topics, len(alone) + len(batch))

    # Then every record is there once, with its header, each key on one partition per topic, in order
    assert sorted(v.decode() for *_, v, _ in found) == sorted(m.id for m in alone + batch)
    partitions: dict[tuple[str, str], set[int]] = defaultdict(set)
    sequence: dict[tuple[str, str], list[int]] = defaultdict(list)
    for topic, partition, value, headers in found:
        key, n = value.decode().rsplit("/", 1)
        partitions[topic, key].add(partition)
        sequence[topic, key].append(int(n))
        assert headers == ({} if n == "0" else {"correlation_id": f"c-{key}-{n}".encode()})
    # the record sent alone (send()) and the batched ones share the key's partition
    assert all(len(p) == 1 for p in partitions.values())
    assert all(seq == [0, 1, 2, 3, 4, 5] for seq in sequence.values())
    assert len({p for (t, _), ps in partitions.items() if t.endswith("-b") for p in ps}) > 1


async def test_a_record_larger_than_a_record_batch_is_published_in_its_place(stack_urls: StackUrls) -> None:
    # Given 40 records of one key, the 20th of 300 KB (the producer's record batches are 256 KB)
    topics = {f"leadflow.test.large-{uuid.uuid4().hex[:8]}": 2}
    (topic,) = topics
    sizes = [300_000 if n == 19 else 100 for n in range(40)]
    async with scratch_topics(stack_urls.kafka, topics) as producer:
        # When they are published in one call
        await publish_all(producer, [OutgoingMessage(str(n), topic, "k", b"%d:" % n + b"x" * size)
                                     for n, size in enumerate(sizes)])  # fmt: skip
        values = [value for _, _, value, _ in await read_back(stack_urls.kafka, topics, len(sizes))]
    # Then all arrive once, in order, the large one whole
    assert [int(v.split(b":")[0]) for v in values] == list(range(40))
    assert [len(v) - len(b"%d:" % n) for n, v in enumerate(values)] == sizes


async def test_a_stream_is_published_whole_a_window_at_a_time(stack_urls: StackUrls) -> None:
    # Given 75 records made as they are asked for, published 20 at a time (windows batched and not)
    topics = {f"leadflow.test.stream-{uuid.uuid4().hex[:8]}": 3}
    (topic,) = topics
    made: list[int] = []

    def records() -> Iterator[OutgoingRecord]:
        for n in range(75):
            made.append(n)
            yield (topic, f"k{n % 7}".encode(), str(n).encode(), ())

    async with scratch_topics(stack_urls.kafka, topics) as producer:
        # When it is published
        published = await publish_stream(producer, records(), window=20)
        values = [int(value) for _, _, value, _ in await read_back(stack_urls.kafka, topics, 75)]
    # Then every record is there once
    assert published == 75
    assert made == list(range(75))
    assert sorted(values) == list(range(75))
