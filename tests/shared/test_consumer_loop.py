"""The consumer loop applies only partitions it still owns when a rebalance lands in the middle of a fetch.

A fetch (getmany) returns records of several partitions, applied one partition at a time; a rebalance waits for
the partition in hand only. Seen in a chaos run: after the revocation the old member went on to apply the
fetch's other partitions, which their new owner was reading too, and both alerted the rep.

The consumer here is a scripted stand-in for aiokafka's (the broker's timing cannot be forced to put a
rebalance between two partitions of one fetch); what is under test is the loop's own bookkeeping.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from shared.kafka import ConsumerLoop

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
            # aiokafka: the assignment is emptied, then the revocation callback runs (it waits for the batch in
            # hand), then the new assignment arrives.
            self.assigned = set()
            assert self.listener is not None
            await self.listener.on_partitions_revoked([P0, P1, P2])
            self.assigned = {P0}
            await self.listener.on_partitions_assigned([P0])

        self.rebalance = asyncio.get_running_loop().create_task(rebalance())

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(offsets)


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
    running = asyncio.create_task(loop.run())
    try:
        await asyncio.wait_for(consumer.idle.wait(), timeout=10)
    finally:
        loop.stop()
        await asyncio.wait_for(running, timeout=10)

    # P0 was in hand and finished; P1 and P2 were revoked before their turn and belong to another member now
    assert applied == [0]
    assert consumer.commits == [{P0: 2}]
    assert consumer.rebalance is not None
    assert consumer.rebalance.done()
