"""Kafka adapters shared by every service: a durable producer, topic setup, and the consumer contract.

The consumer contract (aiokafka docs, "manual commit"): auto-commit off; ``getmany``; per partition the handler
applies the batch in one database transaction and publishes downstream; only then are offsets committed. A
rebalance waits for the batch in hand. Nothing is committed from a cancellation path, so a crash means
redelivery, and handlers are idempotent by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import (
    InvalidProducerEpoch,
    KafkaError,
    KafkaTimeoutError,
    LeaderNotAvailableError,
    NotLeaderForPartitionError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    RequestTimedOutError,
    TopicAlreadyExistsError,
    UnknownProducerId,
)
from aiokafka.partitioner import DefaultPartitioner, murmur2
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


# One partition's share of a fetch.
_Part: TypeAlias = tuple[TopicPartition, list[ConsumerRecord[bytes, bytes]]]


class PoisonRecord(ValueError):
    """A record that can never be processed (bad JSON, unknown type, impossible values): dead-lettered."""


# murmur2 is pure Python in aiokafka (a few µs a key) and every record is keyed by its lead, which comes again
# and again: the hash of a key is kept. 16,384 keys of ~30 bytes: ~2 MB.
_key_hash = functools.lru_cache(maxsize=16_384)(murmur2)


def partition_for_key(key: bytes, partitions: Sequence[int]) -> int:
    """The partition aiokafka's DefaultPartitioner gives a keyed record (the Java client's too: murmur2)."""
    return partitions[(_key_hash(key) & 0x7FFFFFFF) % len(partitions)]


class KeyHashCachingPartitioner(DefaultPartitioner):
    """DefaultPartitioner with each key's hash kept: the same partition for the same key, for less CPU."""

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return super().__call__(key, all_partitions, available)
        return partition_for_key(key, all_partitions)


def create_producer(bootstrap_servers: str, client_id: str) -> AIOKafkaProducer:
    """acks=all with idempotence: an acknowledged record is on every in-sync replica, once."""
    producer = AIOKafkaProducer(
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
        partitioner=KeyHashCachingPartitioner(),
    )
    pace_metadata_updates(producer.client)
    return producer


def pace_metadata_updates(client: AIOKafkaClient, first_s: float = 0.1, max_s: float = 1.0) -> None:
    """Space out a client's metadata refreshes: at least ``first_s`` apart, backing off to ``max_s`` on failures.

    aiokafka's sender and fetcher ask for a refresh in a loop while a partition has no known leader, and a refused
    connection fails at once, so with the only broker down each client spins: thousands of connection attempts
    and error lines a second (aio-libs/aiokafka#496), which starved a 2-core machine in the chaos runs. The Java
    client spaces the same refreshes by retry.backoff.ms (100 ms) up to retry.backoff.max.ms (1 s); so does this.
    """
    original = client.force_metadata_update
    state = {"failures": 0, "next_at": 0.0}

    async def paced() -> bool:
        loop = asyncio.get_running_loop()
        wait = state["next_at"] - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        ok = bool(await original())
        state["failures"] = 0 if ok else state["failures"] + 1
        backoff = first_s if ok else min(first_s * 2 ** state["failures"], max_s)
        state["next_at"] = loop.time() + backoff
        return ok

    def force_metadata_update() -> asyncio.Future[bool]:
        # Callers both await the result and put it in asyncio.wait(): a task serves both.
        return asyncio.ensure_future(paced())

    client.force_metadata_update = force_metadata_update


# Errors after which an idempotent aiokafka producer is out of step with the broker for good. aiokafka has no
# epoch bump (the Java client's KIP-360): once a batch expired (the broker was away longer than the request
# timeout) or the broker forgot the producer id, every later send to that partition fails with
# OutOfOrderSequenceNumber. Seen in the chaos run: a 30 s broker outage left scoring's outbox stuck for good.
PRODUCER_RESET_ERRORS: tuple[type[BaseException], ...] = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    ProducerFenced,
    KafkaTimeoutError,  # a batch expired in the accumulator: its sequence numbers may be spent
    NotLeaderForPartitionError,  # retried inside aiokafka; surfacing means the batch expired
    LeaderNotAvailableError,
    RequestTimedOutError,
)


@dataclass(frozen=True)
class OutgoingMessage:
    """A record to publish: built by the domain adapter, stored in the outbox, then sent."""

    id: str
    topic: str
    key: str
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


# From this many records a publish builds its record batches itself, one per partition (aiokafka's create_batch /
# send_batch), instead of a send() per record: half the producer's CPU per record (a future, an accumulator lookup
# and a partitioner call each). Fewer, as a single post's one, go through send(), where concurrent publishes
# share batches by lingering.
BATCHED_SEND_MIN = 32

# (topic, key, value, headers) of one record to publish
OutgoingRecord: TypeAlias = tuple[str, bytes, bytes, Sequence[tuple[str, bytes]]]


async def send_records(producer: AIOKafkaProducer, records: Sequence[OutgoingRecord]) -> list[asyncio.Future[object]]:
    """Enqueue the records; the futures resolve when the broker acknowledged them (one per record or per batch).

    Batched, each record goes to the partition send() would give its key, and each partition's records keep the
    order given.
    """
    if len(records) < BATCHED_SEND_MIN:
        return [
            await producer.send(topic, value, key=key, headers=list(headers) or None)
            for topic, key, value, headers in records
        ]
    partitions_of: dict[str, list[int]] = {}
    open_batches: dict[tuple[str, int], Any] = {}
    futures: list[asyncio.Future[object]] = []
    for topic, key, value, headers in records:
        partitions = partitions_of.get(topic)
        if partitions is None:
            partitions = partitions_of[topic] = list(await producer.partitions_for(topic))  # as send() lists them
        where = (topic, partition_for_key(key, partitions))
        batch = open_batches.get(where)
        if batch is not None and batch.append(timestamp=None, key=key, value=value, headers=list(headers)):
            continue
        if batch is not None:  # full: send it, and start the next one for this partition
            futures.append(await producer.send_batch(batch, topic, partition=where[1]))
        batch = open_batches[where] = producer.create_batch()
        # an empty record batch takes a first record of any size, as send()'s do (the broker's limit still holds)
        batch.append(timestamp=None, key=key, value=value, headers=list(headers))
    for (topic, partition), batch in open_batches.items():
        futures.append(await producer.send_batch(batch, topic, partition=partition))
    return futures


async def publish_stream(producer: AIOKafkaProducer, records: Iterable[OutgoingRecord], window: int = 10_000) -> int:
    """Publish records as they come, ``window`` at a time, each window acknowledged before the next is built (a
    topic filled for a benchmark or a backfill, without holding it all in memory); returns how many."""
    published = 0
    source = iter(records)
    while chunk := list(itertools.islice(source, window)):
        await asyncio.gather(*await send_records(producer, chunk))
        published += len(chunk)
    return published


async def publish_all(producer: AIOKafkaProducer, messages: Sequence[OutgoingMessage]) -> None:
    """Send every message and wait until the broker acknowledged all of them."""
    futures = await send_records(producer, [(m.topic, m.key.encode(), m.value, m.headers) for m in messages])
    if futures:
        await asyncio.gather(*futures)


class Publisher:
    """A service's producer, replaced by a fresh one (new producer id, sequences from zero) when it broke.

    See PRODUCER_RESET_ERRORS. The failed publish still raises (a transient error): the caller sends again, the
    consumers drop what arrives twice by record id, so nothing is lost and nothing is applied twice.
    """

    def __init__(self, factory: Callable[[], AIOKafkaProducer], name: str = "producer") -> None:
        self._factory = factory
        self._name = name
        self._producer = factory()
        self._started = False
        self._lock = asyncio.Lock()
        self.replaced = 0

    @classmethod
    def connect(cls, bootstrap_servers: str, client_id: str) -> Publisher:
        """A publisher over ``create_producer`` (acks=all, idempotent)."""
        return cls(lambda: create_producer(bootstrap_servers, client_id), name=client_id)

    @classmethod
    def of(cls, producer: AIOKafkaProducer | Publisher) -> Publisher:
        """A publisher over a producer someone else started and stops (tools, benches); kept as is."""
        if isinstance(producer, Publisher):
            return producer
        publisher = cls(lambda: producer, name=producer.client._client_id)
        publisher._started = True
        return publisher

    @property
    def producer(self) -> AIOKafkaProducer:
        """The producer in use now."""
        return self._producer

    async def start(self) -> None:
        """Connect (raises while the broker is unreachable; a later publish tries again)."""
        await self._producer.start()
        self._started = True

    async def stop(self) -> None:
        """Flush what is in flight and disconnect."""
        if self._started:
            await self._producer.stop()
            self._started = False

    async def publish(self, messages: Sequence[OutgoingMessage]) -> None:
        """Send and wait for every acknowledgement; a broken producer is replaced before the error goes up."""
        if not messages:
            return
        producer = await self.started_producer()
        try:
            await publish_all(producer, messages)
        except PRODUCER_RESET_ERRORS as exc:
            await self.replace(producer, exc)
            raise

    async def started_producer(self) -> AIOKafkaProducer:
        """The producer in use, connected first if a replacement could not connect yet (raises while it cannot)."""
        if not self._started:
            async with self._lock:
                if not self._started:
                    await self._producer.start()
                    self._started = True
        return self._producer

    async def replace(self, broken: AIOKafkaProducer, exc: BaseException) -> None:
        """Swap ``broken`` (a producer that failed with one of PRODUCER_RESET_ERRORS) for a fresh one."""
        async with self._lock:
            if self._producer is not broken:
                return  # a concurrent publish already replaced it
            _count_infra_error(self._name, "publish", exc)
            log.warning(
                "producer replaced after a fatal send error",
                extra=log_fields(producer=self._name, error=type(exc).__name__),
            )
            self._producer = self._factory()
            self._started = False
            self.replaced += 1
            with contextlib.suppress(Exception):
                # Its pending batches fail; their callers send them again through the new producer.
                await asyncio.wait_for(broken.stop(), timeout=5)
            with contextlib.suppress(Exception):
                await self._producer.start()
                self._started = True


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

    def __init__(self, lock: asyncio.Lock, on_revoked: Callable[[], None] = lambda: None) -> None:
        self.lock = lock
        self.on_revoked = on_revoked

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self.lock:
            if revoked:  # the first join revokes nothing: no fetch can hold records of a partition handed over
                self.on_revoked()
            log.info(
                "partitions revoked",
                extra=log_fields(partitions=[f"{tp.topic}:{tp.partition}" for tp in revoked]),
            )

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info(
            "partitions assigned",
            extra=log_fields(partitions=[f"{tp.topic}:{tp.partition}" for tp in assigned]),
        )


def merged_batches(parts: Sequence[_Part], concurrency: int, min_batch: int) -> list[list[_Part]]:
    """A fetch's partitions grouped into batches: one, unless ``concurrency`` batches of at least ``min_batch``
    records each can be made; then partitions are spread by size (each whole, in one batch, in partition order)."""
    total = sum(len(records) for _, records in parts)
    count = max(1, min(concurrency, len(parts), total // max(1, min_batch)))
    if count == 1:
        return [list(parts)]
    groups: list[list[_Part]] = [[] for _ in range(count)]
    sizes = [0] * count
    for part in sorted(parts, key=lambda p: len(p[1]), reverse=True):
        smallest = sizes.index(min(sizes))
        groups[smallest].append(part)
        sizes[smallest] += len(part[1])
    return [sorted(group, key=lambda p: p[0].partition) for group in groups]


@dataclass
class ConsumerLoop:
    """Runs one consumer group member: getmany → handler (the fetch as one batch, or per partition) → commit."""

    name: str
    topics: Sequence[str]
    group_id: str
    bootstrap_servers: str
    handler: BatchHandler
    max_records: int = 500
    retry_backoff_s: float = 0.5
    retry_backoff_max_s: float = 10.0
    # How long the group waits for a member to hand its partitions over: the revocation waits for the batch in
    # hand, and a member that takes longer is dropped while still applying it, racing the partition's next owner
    # (aiokafka's default is the 10 s session timeout; a notifier batch paced by Slack can take longer). A member
    # that died is still dropped after the session timeout.
    rebalance_timeout_s: float = 120.0
    on_batch: Callable[[str, int, float], None] | None = None
    # Partition batches of one fetch applied at once (1: one after the other). Each batch is one transaction
    # with a handful of database and broker round trips; applying several at once overlaps those waits. Only
    # for handlers whose partitions never touch the same rows (scoring: a lead's events share a partition).
    concurrency: int = 1
    # All partition batches of one fetch applied as one batch: one transaction and one offset commit for the lot.
    # At moderate rates a fetch holds a few records from each of several partitions, and applying them one
    # partition after the other paid a batch's fixed costs (a dozen round trips, a commit, a produce) once per
    # partition while the later ones waited: the wait most of a hop's latency was made of. Records of one
    # partition keep their order. For handlers that take records of any partitions together (all of ours do:
    # a batch groups by lead, and a lead's records share a partition). With ``concurrency`` > 1, a large fetch is
    # split into that many merged batches (``merge_min_batch``).
    merge_partitions: bool = False
    # With merging and ``concurrency`` > 1: a fetch large enough that every part keeps this many records is split
    # into up to ``concurrency`` merged batches applied at once (a backlog: database waits overlap the CPU work of
    # another batch); a smaller fetch stays one batch (a trickle: fixed costs paid once).
    merge_min_batch: int = 100
    max_partition_fetch_bytes: int = 1024 * 1024
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _consumer: AIOKafkaConsumer | None = None
    # Revocations seen so far: a fetch made before the latest one may hold records of partitions being handed over.
    _revocations: int = 0
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

    def _new_consumer(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=self.group_id,
            client_id=f"{self.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.max_records,
            max_partition_fetch_bytes=self.max_partition_fetch_bytes,
            isolation_level="read_committed",
            rebalance_timeout_ms=int(self.rebalance_timeout_s * 1000),
        )
        pace_metadata_updates(consumer._client)
        return consumer

    async def _consume(self) -> None:
        consumer = self._new_consumer()
        consumer.subscribe(list(self.topics), listener=_WaitForBatch(self._lock, self._revoked))
        self._consumer = consumer
        await consumer.start()
        try:
            while not self._stopping.is_set():
                fetched_after = self._revocations
                batches = await consumer.getmany(timeout_ms=500, max_records=self.max_records)
                self.healthy = True
                ready = [(tp, records) for tp, records in batches.items() if records]
                if (self.merge_partitions or self.concurrency > 1) and len(ready) > 1:
                    async with self._lock:
                        if self._revocations == fetched_after:
                            await self._process_together(consumer, ready)
                        else:
                            self._fetch_again(consumer, ready)
                    continue
                for at, (tp, records) in enumerate(ready):
                    async with self._lock:
                        if self._revocations != fetched_after:
                            # A rebalance began after this fetch (it waited only for the batch in hand): the
                            # fetch's other partitions may be handed over, and their next owner reads them from
                            # the committed offset. Applying them here too would race it, e.g. two alerts for one
                            # lead. aiokafka still lists the old assignment until the new one arrives, so the
                            # revocation itself is what tells.
                            self._fetch_again(consumer, ready[at:])
                            break
                        await self._process(consumer, [(tp, records)])
        finally:
            await self._close()

    def _revoked(self) -> None:
        self._revocations += 1

    @staticmethod
    def _fetch_again(
        consumer: AIOKafkaConsumer, skipped: Sequence[tuple[TopicPartition, list[ConsumerRecord[bytes, bytes]]]]
    ) -> None:
        # Records left unapplied are read again by whoever owns their partition now. A partition we own (the
        # fetch may even have come from the new assignment) is rewound to the first of them: a new assignment
        # starts from the committed offset anyway, but one that arrived during the fetch already moved on.
        owned = consumer.assignment()
        for tp, records in skipped:
            if tp in owned:
                consumer.seek(tp, records[0].offset)

    async def _process_together(
        self, consumer: AIOKafkaConsumer, ready: list[tuple[TopicPartition, list[ConsumerRecord[bytes, bytes]]]]
    ) -> None:
        # Under the rebalance lock for the whole fetch, none revoked since it was made: a revocation waits for all
        # of these batches.
        owned = [(tp, records) for tp, records in ready if tp in consumer.assignment()]
        if self.merge_partitions:
            batches = merged_batches(owned, self.concurrency, self.merge_min_batch)
        else:
            batches = [[part] for part in owned]
        if len(batches) == 1:
            await self._process(consumer, batches[0])
            return
        slots = asyncio.Semaphore(self.concurrency)

        async def one(parts: list[_Part]) -> None:
            async with slots:
                await self._process(consumer, parts)

        # Every batch runs to its end (and commits) before a failure of another one is raised: a batch is never
        # abandoned halfway because its neighbour failed.
        results = await asyncio.gather(*(one(parts) for parts in batches), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _process(self, consumer: AIOKafkaConsumer, parts: Sequence[_Part]) -> None:
        """Apply one batch (one partition's records, or several partitions' in partition order), then commit."""
        if not parts:
            return
        records = parts[0][1] if len(parts) == 1 else [record for _, batch in parts for record in batch]
        topic = parts[0][0].topic
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
                        consumer=self.name,
                        topic=topic,
                        partitions=[tp.partition for tp, _ in parts],
                        error=type(exc).__name__,
                    ),
                )
                if self._stopping.is_set():
                    raise
                await self._sleep(delay)
                delay = min(delay * 2, self.retry_backoff_max_s)
        await consumer.commit({tp: batch[-1].offset + 1 for tp, batch in parts})
        committed_ms = time.time() * 1000
        for tp, batch in parts:
            age = EVENT_AGE.labels(self.name, tp.topic)
            for record in batch:
                age.observe(max(0.0, (committed_ms - record.timestamp) / 1000))
        if self.on_batch is not None:
            self.on_batch(topic, len(records), asyncio.get_running_loop().time() - started)
