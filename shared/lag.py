"""Consumer lag per topic and partition: the partition's end offset minus the group's committed offset.

Lag is measured from outside the consumer loop, on purpose: a consumer that is stuck, crashed or stopped
reports nothing about itself, while the broker still knows how far behind its group is. Any consumer service
starts ``report_lag`` as a background task next to its consumer; several instances of one service measure the
same group, so their gauges agree and Prometheus can take ``max`` across instances.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.kafka import pace_metadata_updates
from shared.logging import log_fields
from shared.metrics import CONSUMER_LAG, CONSUMER_LAG_CHECKS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartitionLag:
    """How far one consumer group is behind on one partition."""

    topic: str
    partition: int
    end_offset: int
    committed: int | None
    lag: int


def partition_lags(
    end_offsets: Mapping[TopicPartition, int],
    committed: Mapping[TopicPartition, int | None],
    beginning_offsets: Mapping[TopicPartition, int],
) -> list[PartitionLag]:
    """Lag per partition; a partition the group never committed counts from its first retained record."""
    lags = []
    for tp in sorted(end_offsets, key=lambda t: (t.topic, t.partition)):
        end = end_offsets[tp]
        position = committed.get(tp)
        # -1 is Kafka's "no committed offset": the group (auto_offset_reset=earliest) would start at the beginning.
        if position is None or position < 0:
            position_or_start = beginning_offsets.get(tp, 0)
            known: int | None = None
        else:
            position_or_start = position
            known = position
        # Retention can delete records the group never read: those are gone, not pending, so never below zero.
        lags.append(PartitionLag(tp.topic, tp.partition, end, known, max(end - position_or_start, 0)))
    return lags


class LagProbe:
    """Reads end offsets and a group's committed offsets from the brokers, without joining the group."""

    def __init__(self, bootstrap: str, group_id: str, topics: Sequence[str], client_id: str) -> None:
        self.group_id = group_id
        self.topics = list(topics)
        self._bootstrap = bootstrap
        self._client_id = client_id
        self._clients: tuple[AIOKafkaConsumer, AIOKafkaAdminClient] | None = None

    async def start(self) -> None:
        """Connect both clients; new ones each time, since a stopped aiokafka client cannot start again."""
        # read_committed: the end offset is the last stable offset, the farthest the group's consumers can read.
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, client_id=self._client_id)
        pace_metadata_updates(consumer._client)
        pace_metadata_updates(admin._client)
        self._clients = (consumer, admin)
        await consumer.start()
        await admin.start()

    async def close(self) -> None:
        """Disconnect; safe to call after a failed start."""
        clients, self._clients = self._clients, None
        if clients is None:
            return
        consumer, admin = clients
        for close in (consumer.stop, admin.close):
            try:
                await close()
            except Exception:
                log.debug("lag probe close failed", exc_info=True)

    async def measure(self) -> list[PartitionLag]:
        """One measurement of every partition of the probe's topics."""
        if self._clients is None:
            await self.start()
        assert self._clients is not None
        consumer, admin = self._clients
        partitions = await self._partitions(admin)
        if not partitions:
            return []
        ends = await consumer.end_offsets(partitions)
        beginnings = await consumer.beginning_offsets(partitions)
        offsets = await admin.list_consumer_group_offsets(self.group_id, partitions=partitions)
        committed = {tp: meta.offset for tp, meta in offsets.items()}
        return partition_lags(ends, committed, beginnings)

    async def _partitions(self, admin: AIOKafkaAdminClient) -> list[TopicPartition]:
        # Asked every round, so partitions added to a topic are measured from the next round on.
        return await topic_partitions(admin, self.topics)


async def topic_partitions(admin: AIOKafkaAdminClient, topics: Sequence[str]) -> list[TopicPartition]:
    """Every partition of these topics, as the brokers describe them now; a topic not created yet has none."""
    described = await admin.describe_topics(list(topics))
    found: list[TopicPartition] = []
    for topic in described:
        if topic.get("error_code"):
            continue
        for partition in sorted(p["partition"] for p in topic.get("partitions", [])):
            found.append(TopicPartition(topic["topic"], partition))
    return found


def publish_lags(service: str, group_id: str, lags: Iterable[PartitionLag]) -> None:
    """Set the lag gauge for each measured partition."""
    for item in lags:
        CONSUMER_LAG.labels(service, group_id, item.topic, str(item.partition)).set(item.lag)


async def report_lag(bootstrap: str, group_id: str, topics: Sequence[str], service: str, interval_s: float) -> None:
    """Measure the group's lag every ``interval_s`` seconds until cancelled; errors are counted and retried."""
    probe = LagProbe(bootstrap, group_id, topics, client_id=f"{service}-lag")
    try:
        while True:
            try:
                publish_lags(service, group_id, await probe.measure())
                CONSUMER_LAG_CHECKS.labels(service, "ok").inc()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Keep the last values (a stale gauge is visible through the error counter), reconnect next round.
                CONSUMER_LAG_CHECKS.labels(service, "error").inc()
                log.warning(
                    "consumer lag measurement failed",
                    extra=log_fields(group=group_id, error=type(exc).__name__, detail=str(exc)[:300]),
                )
                await probe.close()
            await asyncio.sleep(interval_s)
    finally:
        await probe.close()
