"""Kafka adapters shared by every service: a durable producer, topic setup, and the consumer contract.

The consumer contract (aiokafka docs, "manual commit"): auto-commit off; ``getmany``; per partition the handler
applies the batch in one database transaction and publishes downstream; only then are offsets committed. A
rebalance waits for the batch in hand. Nothing is committed from a cancellation path, so a crash means
redelivery, and handlers are idempotent by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from shared.events import CloudEvent, CloudEventType, DeadLetter, Topics
from shared.logging import log_fields
from shared.metrics import DB_ERRORS, EVENT_AGE, KAFKA_ERRORS

log = logging.getLogger(__name__)

# Errors that say "the infrastructure is not there right now", not "this record is bad": retry, never skip.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    KafkaError,
    OperationalError,
    InterfaceError,
    PoolTimeoutError,  # every pooled connection busy: the database is overloaded, not the record bad
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)


# PostgreSQL says "try again": serialization failure, deadlock detected, lock not available, admin shutdown.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57P01", "57P02", "57P03"})


def is_transient(exc: BaseException) -> bool:
    """True for infrastructure faults (broker, database, network), which are retried, not dead-lettered."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(
            getattr(exc.orig, "__cause__", None), "sqlstate", None
        )
        if sqlstate in RETRYABLE_SQLSTATES:
            return True
    return isinstance(exc, TRANSIENT_ERRORS)


def _count_infra_error(service: str, operation: str, exc: BaseException) -> None:
    """Kafka and database failures by bounded labels (operation, error class), for the SRE dashboard."""
    error = type(exc).__name__
    if isinstance(exc, KafkaError):
        KAFKA_ERRORS.labels(service, operation, error).inc()
    elif isinstance(exc, DBAPIError | InterfaceError | OperationalError | PoolTimeoutError):
        DB_ERRORS.labels(service, operation, error).inc()


class PoisonRecord(ValueError):
    """A record that can never be processed (bad JSON, unknown type, impossible values): dead-lettered."""


def create_producer(bootstrap_servers: str, client_id: str) -> AIOKafkaProducer:
    """acks=all with idempotence: an acknowledged record is on every in-sync replica, once."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        # A few ms more lingering and 256 KB batches (default 16 KB, ~20 lead events) let one produce request
        # carry a whole ingest batch per partition instead of dozens; still far inside ingest's latency budget.
        linger_ms=5,
        max_batch_size=256 * 1024,
        compression_type=None,
        request_timeout_ms=15000,
    )


@dataclass(frozen=True)
class OutgoingMessage:
    """A record to publish: built by the domain adapter, stored in the outbox, then sent."""

    id: str
    topic: str
    key: str
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


async def publish_all(producer: AIOKafkaProducer, messages: Sequence[OutgoingMessage]) -> None:
    """Send every message and wait until the broker acknowledged all of them."""
    futures = [
        await producer.send(m.topic, m.value, key=m.key.encode(), headers=list(m.headers) or None) for m in messages
    ]
    if futures:
        await asyncio.gather(*futures)


async def ensure_topics(bootstrap_servers: str, partitions: int = 6, replication_factor: int = 1) -> list[str]:
    """Create LeadFlow's topics if missing, with explicit partition counts; returns the ones created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="leadflow-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in Topics.ALL if t not in existing]
        if missing:
            # Another starter may win the race: the topic exists then, which is all we need.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(t, num_partitions=partitions, replication_factor=replication_factor) for t in missing]
                )
        return missing
    finally:
        await admin.close()


def dead_letter_message(record: ConsumerRecord[bytes, bytes], consumer: str, error: str) -> OutgoingMessage:
    """Wrap a record that can never succeed, with its coordinates and the reason."""
    raw = record.value.decode("utf-8", errors="replace") if record.value is not None else ""
    key = record.key.decode("utf-8", errors="replace") if record.key is not None else None
    letter = DeadLetter(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=key,
        error=error[:2000],
        consumer=consumer,
        raw=raw[:100_000],
    )
    event = CloudEvent[DeadLetter](
        id=f"dl:{record.topic}:{record.partition}:{record.offset}:{consumer}",
        source=f"/leadflow/{consumer}",
        type=CloudEventType.DEAD_LETTER,
        subject=key,
        time=datetime.now(UTC),
        data=letter,
    )
    return OutgoingMessage(id=event.id, topic=Topics.DEAD_LETTER, key=key or "", value=event.to_bytes())


BatchHandler = Callable[[list[ConsumerRecord[bytes, bytes]]], Awaitable[None]]


class _WaitForBatch(ConsumerRebalanceListener):
    """Revocation waits for the batch in hand to finish and commit, so no partition changes hands mid-batch."""

    def __init__(self, lock: asyncio.Lock) -> None:
        self.lock = lock

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self.lock:
            log.info(
                "partitions revoked",
                extra=log_fields(partitions=[f"{tp.topic}:{tp.partition}" for tp in revoked]),
            )

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info(
            "partitions assigned",
            extra=log_fields(partitions=[f"{tp.topic}:{tp.partition}" for tp in assigned]),
        )


@dataclass
class ConsumerLoop:
    """Runs one consumer group member: getmany → handler per partition → commit offsets."""

    name: str
    topics: Sequence[str]
    group_id: str
    bootstrap_servers: str
    handler: BatchHandler
    max_records: int = 500
    retry_backoff_s: float = 0.5
    retry_backoff_max_s: float = 10.0
    on_batch: Callable[[str, int, float], None] | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _consumer: AIOKafkaConsumer | None = None
    healthy: bool = False

    def stop(self) -> None:
        """Ask the loop to finish the batch in hand and leave the group."""
        self._stopping.set()

    async def run(self) -> None:
        """Consume until stopped; transient faults are retried from the first uncommitted record."""
        delay = self.retry_backoff_s
        while not self._stopping.is_set():
            try:
                await self._consume()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.healthy = False
                _count_infra_error(self.name, "consume", exc)
                log.warning(
                    "consumer restarting after error",
                    extra=log_fields(consumer=self.name, error=type(exc).__name__, detail=str(exc)[:300]),
                )
                await self._close()
                await self._sleep(delay)
                delay = min(delay * 2, self.retry_backoff_max_s)

    async def _sleep(self, seconds: float) -> None:
        # Jitter keeps several instances from retrying in lockstep against a recovering broker or database.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds * (0.5 + random.random()))

    async def _close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                await consumer.stop()
            except Exception:
                log.debug("consumer close failed", exc_info=True)

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=self.group_id,
            client_id=f"{self.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.max_records,
            isolation_level="read_committed",
        )
        consumer.subscribe(list(self.topics), listener=_WaitForBatch(self._lock))
        self._consumer = consumer
        await consumer.start()
        try:
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=self.max_records)
                self.healthy = True
                for tp, records in batches.items():
                    if not records:
                        continue
                    async with self._lock:
                        await self._process_partition(consumer, tp, records)
        finally:
            await self._close()

    async def _process_partition(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]
    ) -> None:
        started = asyncio.get_running_loop().time()
        delay = self.retry_backoff_s
        while True:
            try:
                await self.handler(records)
                break
            except Exception as exc:
                if not is_transient(exc):
                    raise
                _count_infra_error(self.name, "apply", exc)
                # Never skip on an infrastructure fault: wait and apply the same records again (idempotent).
                log.warning(
                    "transient error, retrying batch",
                    extra=log_fields(
                        consumer=self.name, topic=tp.topic, partition=tp.partition, error=type(exc).__name__
                    ),
                )
                if self._stopping.is_set():
                    raise
                await self._sleep(delay)
                delay = min(delay * 2, self.retry_backoff_max_s)
        await consumer.commit({tp: records[-1].offset + 1})
        committed_ms = time.time() * 1000
        age = EVENT_AGE.labels(self.name, tp.topic)
        for record in records:
            age.observe(max(0.0, (committed_ms - record.timestamp) / 1000))
        if self.on_batch is not None:
            self.on_batch(tp.topic, len(records), asyncio.get_running_loop().time() - started)
