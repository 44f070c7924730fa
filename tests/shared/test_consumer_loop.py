"""The consumer loop applies only partitions it still owns when a rebalance lands in the middle of a fetch.

A fetch (getmany) returns records of several partitions, applied one partition at a time (or several at
once); a rebalance waits for the batches in hand only. Seen in chaos runs: after the revocation the old member
went on to apply the fetch's other partitions, which their new owner was reading too, and both alerted the rep.
aiokafka keeps listing the old assignment until the new one arrives, so "is it still mine?" cannot be asked of
``assignment()``; the revocation itself is what the loop counts.

The consumer here is a scripted stand-in for aiokafka's (the broker's timing cannot be forced to put a
rebalance between two partitions of one fetch); what is under test is the loop's own bookkeeping.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from services.notifier.settings import NotifierSettings
from services.scoring.settings import ScoringSettings
from shared.kafka import ConsumerLoop, merged_batches
from shared.settings import BaseServiceSettings

TOPIC = "t"
P0, P1, P2 = (TopicPartition(TOPIC, n) for n in range(3))


def _records(tp: TopicPartition) -> list[ConsumerRecord[bytes, bytes]]:
    return [ConsumerRecord(tp.topic, tp.partition, n, 0, 0, b"k", b"v", None, 1, 1, []) for n in range(2)]


class ScriptedConsumer:
    """One fetch of three partitions; a rebalance that takes P1 and P2 away starts while P0 is applied."""

    def __init__(self) -> None:
        self.assigned = {P0, P1, P2}
        self.listener: ConsumerRebalanceListener | None = None
        self.commits: list[dict[TopicPartition, int]] = []
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.fetches = 0
        self.rebalance: asyncio.Task[None] | None = None
        self.idle = asyncio.Event()  # set once the loop fetched again after the scripted fetch

    def subscribe(self, topics: list[str], listener: ConsumerRebalanceListener) -> None:
        self.listener = listener

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[TopicPartition, Any]:
        self.fetches += 1
        if self.fetches == 1:
            return {P0: _records(P0), P1: _records(P1), P2: _records(P2)}
        if self.fetches >= 3:
            self.idle.set()
        await asyncio.sleep(0)  # later fetches are empty
        return {}

    def begin_rebalance(self) -> None:
        async def rebalance() -> None:
            # aiokafka: the revocation callback runs (it waits for the batch in hand) while assignment() still
            # lists the old partitions; they stay listed until the group's new assignment arrives, a join round
            # trip later.
            assert self.listener is not None
            await self.listener.on_partitions_revoked([P0, P1, P2])
            await asyncio.sleep(0.2)
            self.assigned = {P0}
            await self.listener.on_partitions_assigned([P0])

        self.rebalance = asyncio.get_running_loop().create_task(rebalance())

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(offsets)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        assert tp in self.assigned, f"aiokafka refuses to seek {tp}: not assigned"
        self.seeks.append((tp, offset))


class ScriptedLoop(ConsumerLoop):
    scripted: ScriptedConsumer

    def _new_consumer(self) -> Any:
        return self.scripted


async def test_partitions_revoked_during_a_fetch_are_left_to_their_new_owner() -> None:
    consumer = ScriptedConsumer()
    applied: list[int] = []

    async def handler(records: list[ConsumerRecord[bytes, bytes]]) -> None:
        applied.append(records[0].partition)
        if records[0].partition == 0:
            consumer.begin_rebalance()
            await asyncio.sleep(0)  # let the rebalance reach the callback, which waits for this batch

    loop = ScriptedLoop(name="test", topics=[TOPIC], group_id="g", bootstrap_servers="unused", handler=handler)
    loop.scripted = consumer
    await _run_until_idle(loop, consumer)

    # P0 was in hand and finished; P1 and P2 were revoked before their turn and belong to another member now
    assert applied == [0]
    assert consumer.commits == [{P0: 2}]
    assert consumer.rebalance is not None
    assert consumer.rebalance.done()


@pytest.mark.parametrize("together", [{"concurrency": 3}, {"merge_partitions": True}], ids=["concurrent", "merged"])
async def test_a_fetch_made_before_a_revocation_is_not_applied_at_all(together: dict[str, Any]) -> None:
    # Given partitions applied together (at once, or merged into one batch), and a rebalance that begins while the
    # fetch is on its way
    consumer = ScriptedConsumer()
    applied: list[int] = []
    fetch = consumer.getmany

    async def fetch_then_rebalance(timeout_ms: int = 0, max_records: int | None = None) -> dict[TopicPartition, Any]:
        batches = await fetch(timeout_ms, max_records)
        if consumer.fetches == 1:
            consumer.begin_rebalance()
            await asyncio.sleep(0.05)  # the revocation callback ran before the loop got the records
        return batches

    consumer.getmany = fetch_then_rebalance  # type: ignore[method-assign]

    async def handler(records: list[ConsumerRecord[bytes, bytes]]) -> None:
        applied.append(records[0].partition)

    loop = ScriptedLoop(
        name="test", topics=[TOPIC], group_id="g", bootstrap_servers="unused", handler=handler, **together
    )
    loop.scripted = consumer
    await _run_until_idle(loop, consumer)

    # Then none of it is applied or committed: whoever owns each partition now reads it from the committed offset
    assert applied == []
    assert consumer.commits == []


async def test_records_fetched_across_a_whole_rebalance_are_read_again_not_skipped() -> None:
    # Given a fetch that waited through a whole rebalance (revoked, then P0 given back) before it returned
    consumer = ScriptedConsumer()
    applied: list[int] = []
    fetch = consumer.getmany

    async def fetch_through_rebalance(timeout_ms: int = 0, max_records: int | None = None) -> dict[TopicPartition, Any]:
        batches = await fetch(timeout_ms, max_records)
        if consumer.fetches == 1:
            consumer.begin_rebalance()
            assert consumer.rebalance is not None
            await consumer.rebalance
            return {P0: batches[P0]}  # what the new assignment's position gave
        return batches

    consumer.getmany = fetch_through_rebalance  # type: ignore[method-assign]

    async def handler(records: list[ConsumerRecord[bytes, bytes]]) -> None:
        applied.append(records[0].partition)

    loop = ScriptedLoop(name="test", topics=[TOPIC], group_id="g", bootstrap_servers="unused", handler=handler)
    loop.scripted = consumer
    await _run_until_idle(loop, consumer)

    # Then the records are not applied from this fetch, and P0 (still ours) is rewound to read them again: the
    # consumer's position had moved past them, and skipping without a rewind would lose them for good
    assert applied == []
    assert consumer.seeks == [(P0, 0)]


async def test_partitions_of_one_fetch_are_applied_together_and_each_committed() -> None:
    consumer = ScriptedConsumer()
    running_now: list[int] = []
    most_at_once = 0

    async def handler(records: list[ConsumerRecord[bytes, bytes]]) -> None:
        nonlocal most_at_once
        running_now.append(records[0].partition)
        most_at_once = max(most_at_once, len(running_now))
        await asyncio.sleep(0.05)
        running_now.remove(records[0].partition)

    loop = ScriptedLoop(
        name="test", topics=[TOPIC], group_id="g", bootstrap_servers="unused", handler=handler, concurrency=2
    )
    loop.scripted = consumer
    await _run_until_idle(loop, consumer)

    assert most_at_once == 2  # three partitions, at most two at once
    assert sorted(consumer.commits, key=lambda c: next(iter(c)).partition) == [{P0: 2}, {P1: 2}, {P2: 2}]


async def _run_scripted(consumer: ScriptedConsumer, handler: Any, **options: Any) -> None:
    loop = ScriptedLoop(
        name="test", topics=[TOPIC], group_id="g", bootstrap_servers="unused", handler=handler, **options
    )
    loop.scripted = consumer
    await _run_until_idle(loop, consumer)


async def _run_until_idle(loop: ScriptedLoop, consumer: ScriptedConsumer) -> None:
    running = asyncio.create_task(loop.run())
    try:
        await asyncio.wait_for(consumer.idle.wait(), timeout=10)
        if consumer.rebalance is not None:
            await asyncio.wait_for(consumer.rebalance, timeout=10)
    finally:
        loop.stop()
        await asyncio.wait_for(running, timeout=10)


async def test_the_consumer_fetches_at_most_the_configured_bytes_of_a_partition() -> None:
    # scoring sets 128 KB (less fetched ahead waiting in memory); aiokafka's own default is 1 MiB
    async def apply(records: Any) -> None:
        return None

    loop = ConsumerLoop(
        name="t", topics=[TOPIC], group_id="g", bootstrap_servers="127.0.0.1:1", handler=apply,
        max_partition_fetch_bytes=128 * 1024,
    )  # fmt: skip
    consumer = loop._new_consumer()
    try:
        assert consumer._max_partition_fetch_bytes == 128 * 1024
    finally:
        await consumer.stop()
    assert ScoringSettings().kafka_max_partition_fetch_bytes == 128 * 1024
    assert NotifierSettings().kafka_max_partition_fetch_bytes == 256 * 1024
    assert BaseServiceSettings().kafka_max_partition_fetch_bytes == 1024 * 1024


async def test_merged_partitions_are_one_batch_in_partition_order_and_one_commit() -> None:
    consumer = ScriptedConsumer()
    batches: list[list[tuple[int, int]]] = []

    async def handler(records: list[ConsumerRecord[bytes, bytes]]) -> None:
        batches.append([(r.partition, r.offset) for r in records])

    await _run_scripted(consumer, handler, merge_partitions=True, concurrency=3)

    # One handler call for the whole fetch (too small to split, even with concurrency), each partition's records
    # in order, and every partition's offset in one commit made after the handler returned
    assert batches == [[(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]]
    assert consumer.commits == [{P0: 2, P1: 2, P2: 2}]


async def test_a_merged_batch_that_fails_transiently_is_applied_again_whole_then_committed() -> None:
    consumer = ScriptedConsumer()
    calls: list[int] = []

    async def handler(records: list[ConsumerRecord[bytes, bytes]]) -> None:
        calls.append(len(records))
        if len(calls) == 1:
            assert consumer.commits == []
            raise ConnectionResetError("database went away mid-batch")

    await _run_scripted(consumer, handler, merge_partitions=True, retry_backoff_s=0.01)

    # Nothing committed for the failed attempt; the retry carried all six records, then all three were committed
    assert calls == [6, 6]
    assert consumer.commits == [{P0: 2, P1: 2, P2: 2}]


def test_services_merge_the_partitions_of_a_fetch_by_default() -> None:
    assert BaseServiceSettings().consumer_merge_partitions is True
    assert BaseServiceSettings(consumer_merge_partitions=False).consumer_merge_partitions is False


def _fetch(*sizes: int) -> list[tuple[TopicPartition, list[ConsumerRecord[bytes, bytes]]]]:
    return [
        (TopicPartition(TOPIC, n), [ConsumerRecord(TOPIC, n, o, 0, 0, b"k", b"v", None, 1, 1, []) for o in range(size)])
        for n, size in enumerate(sizes)
    ]


def _shape(batches: list[list[tuple[TopicPartition, list[ConsumerRecord[bytes, bytes]]]]]) -> list[list[int]]:
    return [[tp.partition for tp, _ in batch] for batch in batches]


def test_a_trickle_is_one_merged_batch_whatever_the_concurrency() -> None:
    assert _shape(merged_batches(_fetch(3, 1, 4, 2, 5, 1), concurrency=3, min_batch=100)) == [[0, 1, 2, 3, 4, 5]]


def test_a_backlog_is_split_into_concurrent_merged_batches_of_whole_partitions_by_size() -> None:
    fetch = _fetch(170, 40, 160, 30, 100, 0)
    batches = merged_batches(fetch, concurrency=3, min_batch=100)
    # three batches (500 records allow three of at least 100), each partition whole and in exactly one of them,
    # partitions in order inside a batch, the sizes as even as whole partitions allow
    assert sorted(p for batch in _shape(batches) for p in batch) == [0, 1, 2, 3, 4, 5]
    assert all(batch == sorted(batch) for batch in _shape(batches))
    assert sorted(sum(len(r) for _, r in batch) for batch in batches) == [160, 170, 170]


def test_without_concurrency_a_backlog_stays_one_batch() -> None:
    assert _shape(merged_batches(_fetch(300, 300, 300), concurrency=1, min_batch=100)) == [[0, 1, 2]]
    # and never more batches than the fetch's records allow at the minimum size
    assert len(merged_batches(_fetch(90, 90, 90), concurrency=3, min_batch=100)) == 2
