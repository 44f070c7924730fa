"""Consumer lag = partition end offset − the group's committed offset, measured from outside the consumer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import REGISTRY

from leadflow import stack
from shared.lag import partition_lags, report_lag
from tests.conftest import StackUrls, eventually

TP0 = TopicPartition("t", 0)
TP1 = TopicPartition("t", 1)


def test_lag_is_the_end_offset_minus_the_committed_offset() -> None:
    lags = partition_lags({TP0: 120, TP1: 40}, {TP0: 100, TP1: 40}, {TP0: 0, TP1: 0})
    assert [(item.partition, item.lag) for item in lags] == [(0, 20), (1, 0)]


def test_a_partition_the_group_never_committed_counts_from_its_first_retained_record() -> None:
    # Given a group that has not committed on partition 1 (Kafka reports -1) and records 30..50 retained
    lags = partition_lags({TP0: 10, TP1: 50}, {TP0: 10, TP1: -1}, {TP0: 0, TP1: 30})
    # Then the whole retained backlog is pending
    assert lags[1].lag == 20
    assert lags[1].committed is None


def test_records_deleted_by_retention_before_the_group_read_them_are_not_negative_lag() -> None:
    lags = partition_lags({TP0: 100}, {TP0: 120}, {TP0: 90})
    assert lags[0].lag == 0


# ---------------------------------------------------------------- against the real broker


def _lag(group: str, topic: str, partition: int) -> float | None:
    return REGISTRY.get_sample_value(
        "leadflow_consumer_lag",
        {"service": "lag-test", "group": group, "topic": topic, "partition": str(partition)},
    )


@pytest.fixture
async def scratch_topic(stack_urls: StackUrls) -> AsyncIterator[tuple[str, str]]:
    """A topic of its own (never one the pipeline reads), deleted afterwards; yields (bootstrap, topic)."""
    bootstrap = stack.kafka_bootstrap(stack.layout_for_tests())
    topic = f"leadflow.test-lag.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
        yield bootstrap, topic
        await admin.delete_topics([topic])
    finally:
        await admin.close()


async def _produce(bootstrap: str, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(count):
            await producer.send_and_wait(topic, f"record {i}".encode(), partition=0)
    finally:
        await producer.stop()


async def _consume_and_commit(bootstrap: str, topic: str, group: str, expected: int) -> None:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        seen = 0
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=500)
            seen += sum(len(records) for records in batches.values())
        await consumer.commit()
    finally:
        await consumer.stop()


@pytest.mark.integration
async def test_the_lag_gauge_grows_while_a_consumer_is_stopped_and_falls_back_when_it_catches_up(
    scratch_topic: tuple[str, str],
) -> None:
    bootstrap, topic = scratch_topic
    group = f"lag-test-{uuid.uuid4().hex[:8]}"
    # Given a consumer group that has read and committed everything on the topic
    await _produce(bootstrap, topic, 3)
    await _consume_and_commit(bootstrap, topic, group, expected=3)
    reporter = asyncio.create_task(report_lag(bootstrap, group, [topic], "lag-test", interval_s=0.2))
    try:
        await eventually(lambda: _async(_lag(group, topic, 0) == 0))
        # When its consumer is stopped and five more records arrive
        await _produce(bootstrap, topic, 5)
        # Then the gauge shows five records waiting on that partition, and none on the other
        await eventually(lambda: _async(_lag(group, topic, 0) == 5))
        assert _lag(group, topic, 1) == 0
        # And when the consumer comes back and commits, the lag returns to zero
        await _consume_and_commit(bootstrap, topic, group, expected=5)
        await eventually(lambda: _async(_lag(group, topic, 0) == 0))
    finally:
        reporter.cancel()
        await asyncio.gather(reporter, return_exceptions=True)


async def _async(value: bool) -> bool:
    return value
