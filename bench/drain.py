"""Drain rates: each consumer service alone against a pre-filled topic, timed until its group lag is zero.

The chain is measured as it runs in production: lead-events are pre-filled (realistic mix over many leads),
scoring alone drains them and so fills lead-scored, the router alone drains that, then the notifier alone
drains the decisions. Time runs from the last lag probe before the first record was committed, so the
service's start-up is not counted, to the first probe that sees lag zero.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.kafka_limit import lead_event_record
from bench.workload import Mix
from leadflow import stack
from services.notifier.settings import default_consumer_groups
from services.router.settings import RouterSettings
from services.scoring.settings import ScoringSettings
from shared.events import CloudEventType, Topics
from shared.kafka import create_producer, publish_stream
from shared.lag import LagProbe
from shared.normalize import lead_id_for


@dataclass(frozen=True)
class Consumer:
    """A consumer service, the groups it reads the topic it drains in, and that topic.

    The notifier reads routing decisions twice, once for Slack and once for email: a decision is drained when
    every one of its groups is past it.
    """

    service: str
    groups: tuple[str, ...]
    topic: str


def _group(settings: type[ScoringSettings | RouterSettings]) -> tuple[str]:
    # The services' own defaults, so a renamed group is followed here.
    return (str(settings.model_fields["consumer_group"].default),)


CHAIN = (
    Consumer("scoring", _group(ScoringSettings), Topics.EVENTS),
    Consumer("router", _group(RouterSettings), Topics.SCORED),
    Consumer(
        "notifier",
        tuple(group for topic, group, _ in default_consumer_groups() if topic == Topics.DECISIONS),
        Topics.DECISIONS,
    ),
)


@dataclass(frozen=True)
class DrainResult:
    """One consumer's timed drain."""

    service: str
    records: int
    seconds: float
    records_per_s: float
    cpu_s: dict[str, float]
    left: int = 0  # records still pending when the time cap ended the drain; the rate counts what was done

    def as_dict(self) -> dict[str, object]:
        return {
            "service": self.service,
            "records": self.records,
            "seconds": self.seconds,
            "records_per_s": self.records_per_s,
            "cpu_s": self.cpu_s,
            "left": self.left,
        }


async def topic_partitions(bootstrap: str, topic: str) -> list[TopicPartition]:
    """A topic's partitions, asked of the broker (a fresh consumer's metadata may not hold them yet)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="leadflow-bench")
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(TopicPartition(topic, p["partition"]) for d in described for p in d["partitions"])


async def fast_forward(bootstrap: str, consumer: Consumer) -> None:
    """Commit the groups' offsets at the topic's end, so their next drain holds only what this phase adds.

    Only valid while no member of the groups runs (its service is stopped).
    """
    partitions = await topic_partitions(bootstrap, consumer.topic)
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await reader.start()
    try:
        ends = await reader.end_offsets(partitions)
    finally:
        await reader.stop()
    if not partitions:
        raise RuntimeError(f"topic {consumer.topic} has no partitions")
    for group in consumer.groups:
        committer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        await committer.start()
        try:
            committer.assign(partitions)
            await committer.commit(dict(ends.items()))
        finally:
            await committer.stop()


async def prefill(bootstrap: str, *, events: int, leads: int, seed: int, run: str) -> float:
    """Publish ``events`` lead-event records over ``leads`` people, exactly as ingest would; returns seconds."""
    producer = create_producer(bootstrap, client_id="leadflow-bench-prefill")
    await producer.start()
    started = time.perf_counter()
    try:
        now = datetime.now(UTC)
        mix = Mix(seed=seed, run=run, leads=leads)
        headers = (("correlation_id", b"bench-prefill"), ("ce_type", CloudEventType.LEAD_EVENT.encode()))
        # A month of history, oldest first, so decay and frequency caps see realistic spacing.
        await publish_stream(
            producer,
            (
                (
                    Topics.EVENTS,
                    lead_id_for(post.email).encode(),
                    lead_event_record(post.body, post.endpoint, now),
                    headers,
                )
                for post in mix.stream(events, start=now - timedelta(days=30), span=timedelta(days=30))
            ),
        )
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def timed_drain(
    lay: stack.Layout,
    consumer: Consumer,
    *,
    poll_s: float,
    timeout_s: float,
    cpu_of: Callable[[], dict[str, float]],
) -> DrainResult:
    """Start the service alone and time its groups' lag from full to zero (the slowest group's).

    A consumer too slow to drain within ``timeout_s`` (the notifier waits on Slack and SMTP for every alert)
    is measured on what it did drain by then, and the records left are reported.
    """
    bootstrap = stack.kafka_bootstrap(lay)
    partitions = len(await topic_partitions(bootstrap, consumer.topic))
    probes = [LagProbe(bootstrap, group, [consumer.topic], client_id="leadflow-bench-lag") for group in consumer.groups]
    for probe in probes:
        await probe.start()

    async def lag() -> int:
        return max([await _group_lag(probe, partitions, consumer.topic) for probe in probes])

    try:
        total = await lag()
        stack.start_service(lay, lay.service(consumer.service))
        deadline = time.monotonic() + timeout_s
        began = time.perf_counter()
        cpu_began = cpu_of()
        while True:
            now = time.perf_counter()
            cpu_now = cpu_of()
            remaining = await lag()
            if remaining >= total:
                began, cpu_began = now, cpu_now
            if remaining == 0 or time.monotonic() > deadline:
                seconds = max(now - began, 1e-9)
                cpu = {k: v - cpu_began.get(k, 0.0) for k, v in cpu_now.items()}
                done = total - remaining
                return DrainResult(consumer.service, done, seconds, done / seconds, cpu, left=remaining)
            await asyncio.sleep(poll_s)
    finally:
        for probe in probes:
            await probe.close()


async def _group_lag(probe: LagProbe, partitions: int, topic: str) -> int:
    # Right after connecting, the probe's metadata may not list the topic yet: an empty answer is not zero.
    for _ in range(100):
        lags = await probe.measure()
        if len(lags) == partitions:
            return sum(p.lag for p in lags)
        await asyncio.sleep(0.1)
    raise TimeoutError(f"no partition metadata for {topic}")


async def group_lags(bootstrap: str) -> dict[str, int]:
    """Lag of each consumer of the chain right now (its slowest group's total)."""
    out = {}
    for consumer in CHAIN:
        partitions = len(await topic_partitions(bootstrap, consumer.topic))
        lags = []
        for group in consumer.groups:
            probe = LagProbe(bootstrap, group, [consumer.topic], client_id="leadflow-bench-lag")
            try:
                lags.append(await _group_lag(probe, partitions, consumer.topic))
            finally:
                await probe.close()
        out[consumer.service] = max(lags)
    return out
