"""publish_all (the outbox's and every consumer's publish): a large publish is batched by partition, and lands
exactly as record-by-record sends would have put it."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.kafka import BATCHED_SEND_MIN, OutgoingMessage, create_producer, publish_all
from tests.conftest import StackUrls

pytestmark = pytest.mark.integration


async def test_a_large_publish_over_two_topics_keeps_partitions_order_and_headers(stack_urls: StackUrls) -> None:
    # Given two fresh topics of 3 and 5 partitions, and a producer that already sent one record per key alone
    run = uuid.uuid4().hex[:8]
    topics = {f"leadflow.test.batched-{run}-a": 3, f"leadflow.test.batched-{run}-b": 5}
    admin = AIOKafkaAdminClient(bootstrap_servers=stack_urls.kafka)
    await admin.start()
    await admin.create_topics([NewTopic(t, n, 1) for t, n in topics.items()])
    producer = create_producer(stack_urls.kafka, client_id="test-publish-all")
    await producer.start()
    keys = [f"lead-{run}-{n}" for n in range(9)]
    try:
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

        # Then every record is there once, with its header, each key on one partition per topic, in order
        consumer = AIOKafkaConsumer(bootstrap_servers=stack_urls.kafka, auto_offset_reset="earliest")
        await consumer.start()
        try:
            consumer.assign([TopicPartition(t, p) for t, n in topics.items() for p in range(n)])
            found: list[tuple[str, int, str, dict[str, bytes]]] = []
            async with asyncio.timeout(30):
                while len(found) < len(alone) + len(batch):
                    for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                        found += [(tp.topic, tp.partition, r.value.decode(), dict(r.headers)) for r in records]
        finally:
            await consumer.stop()
    finally:
        await producer.stop()
        await admin.delete_topics(list(topics))
        await admin.close()

    assert sorted(v for *_, v, _ in found) == sorted(m.id for m in alone + batch)
    partitions: dict[tuple[str, str], set[int]] = defaultdict(set)
    sequence: dict[tuple[str, str], list[int]] = defaultdict(list)
    for topic, partition, value, headers in found:
        key, n = value.rsplit("/", 1)
        partitions[topic, key].add(partition)
        sequence[topic, key].append(int(n))
        assert headers == ({} if n == "0" else {"correlation_id": f"c-{key}-{n}".encode()})
    # the record sent alone (send()) and the batched ones share the key's partition
    assert all(len(p) == 1 for p in partitions.values())
    assert all(seq == [0, 1, 2, 3, 4, 5] for seq in sequence.values())
    assert len({p for (t, _), ps in partitions.items() if t.endswith("-b") for p in ps}) > 1


async def test_a_record_larger_than_a_record_batch_is_published_in_its_place(stack_urls: StackUrls) -> None:
    # Given 40 records of one key, the 20th of 300 KB (the producer's record batches are 256 KB)
    run = uuid.uuid4().hex[:8]
    topic = f"leadflow.test.large-{run}"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack_urls.kafka)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 2, 1)])
    producer = create_producer(stack_urls.kafka, client_id="test-publish-large")
    await producer.start()
    sizes = [300_000 if n == 19 else 100 for n in range(40)]
    try:
        # When they are published in one call
        await publish_all(producer, [OutgoingMessage(str(n), topic, "k", b"%d:" % n + b"x" * size)
                                     for n, size in enumerate(sizes)])  # fmt: skip
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=stack_urls.kafka, auto_offset_reset="earliest")
        await consumer.start()
        try:
            values: list[bytes] = []
            async with asyncio.timeout(30):
                while len(values) < len(sizes):
                    values += [
                        r.value for records in (await consumer.getmany(timeout_ms=500)).values() for r in records
                    ]
        finally:
            await consumer.stop()
    finally:
        await producer.stop()
        await admin.delete_topics([topic])
        await admin.close()
    # Then all arrive once, in order, the large one whole
    assert [int(v.split(b":")[0]) for v in values] == list(range(40))
    assert [len(v) - len(b"%d:" % n) for n, v in enumerate(values)] == sizes
