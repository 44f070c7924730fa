"""The raw Kafka limit on this machine, measured in the same run as LeadFlow's figures.

Two references: Kafka's own ``ProducerPerformance`` (Java, acks=all, idempotent) at the byte size of a real
lead-event record, and aiokafka's producer in a bare loop with ingest's producer settings. LeadFlow cannot
beat either; the ratio says how much of the machine's Kafka budget the product turns into useful work.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import statistics
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from pydantic import TypeAdapter

from bench.workload import Mix
from leadflow import stack
from services.ingest.domain import to_lead_event
from services.ingest.producer import to_cloud_event
from services.ingest.schemas import BehaviorEvent, FormEvent, TradeshowEvent, WebinarEvent
from shared.events import Channel
from shared.kafka import create_producer

RAW_TOPIC = "leadflow.bench.raw-producer"

CHANNELS: dict[str, tuple[Channel, TypeAdapter[Any]]] = {
    "form": (Channel.WEB_FORM, TypeAdapter(FormEvent)),
    "webinar": (Channel.WEBINAR, TypeAdapter(WebinarEvent)),
    "tradeshow": (Channel.TRADESHOW, TypeAdapter(TradeshowEvent)),
    "behavior": (Channel.BEHAVIOR, TypeAdapter(BehaviorEvent)),
}

_SUMMARY = re.compile(
    r"(?P<records>\d+) records sent, (?P<rate>[\d.]+) records/sec \((?P<mb>[\d.]+) MB/sec\), "
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency, (?P<p50>\d+) ms 50th, "
    r"(?P<p95>\d+) ms 95th, (?P<p99>\d+) ms 99th, (?P<p999>\d+) ms 99\.9th"
)


class KafkaToolError(RuntimeError):
    """ProducerPerformance failed or printed no summary line."""


@dataclass(frozen=True)
class ProducerFigures:
    """ProducerPerformance's final summary line."""

    records: int
    records_per_s: float
    mb_per_s: float
    avg_ms: float
    max_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    p999_ms: float


def parse_producer_performance(output: str) -> ProducerFigures:
    """The last summary line of ProducerPerformance's output (it also prints progress lines)."""
    matches = list(_SUMMARY.finditer(output))
    if not matches:
        raise KafkaToolError(f"no ProducerPerformance summary in: {output[-500:]!r}")
    m = matches[-1]
    return ProducerFigures(
        records=int(m["records"]),
        records_per_s=float(m["rate"]),
        mb_per_s=float(m["mb"]),
        avg_ms=float(m["avg"]),
        max_ms=float(m["max"]),
        p50_ms=float(m["p50"]),
        p95_ms=float(m["p95"]),
        p99_ms=float(m["p99"]),
        p999_ms=float(m["p999"]),
    )


def lead_event_record(post_body: bytes, endpoint: str, now: datetime) -> bytes:
    """The exact bytes ingest would publish for one post: same normalization, same CloudEvent envelope."""
    channel, adapter = CHANNELS[endpoint]
    body = adapter.validate_json(post_body)
    event = to_lead_event(channel, body, received_at=now, source=f"api:{channel.value}")
    return to_cloud_event(event, correlation_id="0" * 32).to_bytes()


def record_sizes(seed: int, sample: int = 500) -> dict[str, float]:
    """Byte sizes of real lead-event records over the realistic mix; the median is the size Kafka is driven at."""
    mix = Mix(seed=seed, run="size", leads=1000)
    now = datetime.now(UTC)
    sizes = [len(lead_event_record(p.body, p.endpoint, now)) for p in mix.stream(sample)]
    return {"median": statistics.median(sizes), "min": min(sizes), "max": max(sizes), "sample": sample}


async def ensure_topic(bootstrap: str, topic: str, partitions: int = 6) -> None:
    """Create the scratch topic the raw producers write to (the broker does not auto-create)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="leadflow-bench")
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            with contextlib.suppress(TopicAlreadyExistsError):  # another starter won the race: it exists
                await admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()


async def delete_topic(bootstrap: str, topic: str) -> None:
    """Drop the scratch topic so repeated runs do not fill the disk."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="leadflow-bench")
    await admin.start()
    try:
        if topic in await admin.list_topics():
            await admin.delete_topics([topic])
    finally:
        await admin.close()


def java_producer(
    bootstrap: str, *, records: int, record_size: int, throughput: int = -1, heap: str = "256m"
) -> ProducerFigures:
    """Run Kafka's ProducerPerformance with acks=all and idempotence; ``throughput`` -1 means flat out."""
    argv = [
        "java", f"-Xmx{heap}", "-cp", f"{stack.KAFKA_LIBS}/*", "org.apache.kafka.tools.ProducerPerformance",
        "--topic", RAW_TOPIC, "--num-records", str(records), "--record-size", str(record_size),
        "--throughput", str(throughput),
        "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all", "enable.idempotence=true",
        "client.id=leadflow-bench-java",
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=1800)  # noqa: S603 - fixed argv
    if result.returncode != 0:
        raise KafkaToolError(f"ProducerPerformance exited {result.returncode}: {result.stderr[-1000:]}")
    return parse_producer_performance(result.stdout)


async def aiokafka_loop(bootstrap: str, *, records: int, record_size: int, window: int = 10_000) -> float:
    """aiokafka's producer flat out with ingest's settings (acks=all, idempotent, same linger): records/s.

    Sends are awaited in windows, as a busy ingest has many requests in flight at once.
    """
    producer = create_producer(bootstrap, client_id="leadflow-bench-aiokafka")
    await producer.start()
    try:
        value = b"x" * record_size
        started = time.perf_counter()
        sent = 0
        while sent < records:
            chunk = min(window, records - sent)
            futures = [await producer.send(RAW_TOPIC, value, key=str(sent + i).encode()) for i in range(chunk)]
            await asyncio.gather(*futures)
            sent += chunk
        return records / (time.perf_counter() - started)
    finally:
        await producer.stop()
