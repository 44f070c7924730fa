"""The one batch-handling shape every consumer service uses: decode, apply in one transaction, publish.

A service supplies ``decode`` (record → payload, raising on poison) and ``apply`` (payloads → outgoing
messages, written to the outbox inside its own unit of work). This module does the rest: poison records go
to the dead-letter topic with their error; a batch that fails for a reason other than the infrastructure is
retried record by record so one bad record cannot block its partition.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeAlias, TypeVar

import orjson
from aiokafka import AIOKafkaProducer, ConsumerRecord
from pydantic import ValidationError

from shared.kafka import OutgoingMessage, PoisonRecord, Publisher, dead_letter_message, is_transient
from shared.logging import correlation_id, log_fields
from shared.metrics import DEAD_LETTERS
from shared.outbox import Outbox

log = logging.getLogger(__name__)

P = TypeVar("P")
Record: TypeAlias = ConsumerRecord[bytes, bytes]
Decoded: TypeAlias = tuple[Record, P]

POISON_ERRORS = (ValidationError, orjson.JSONDecodeError, PoisonRecord, UnicodeDecodeError)


class BatchProcessor(Generic[P]):
    """Turns a partition batch into applied state and published messages, exactly as described above."""

    def __init__(
        self,
        *,
        service: str,
        decode: Callable[[Record], P],
        apply: Callable[[Sequence[Decoded[P]]], Awaitable[list[OutgoingMessage]]],
        producer: Publisher | AIOKafkaProducer,
        outbox: Outbox | None,
    ) -> None:
        self.service = service
        self.decode = decode
        self.apply = apply
        self.publisher = Publisher.of(producer)
        self.outbox = outbox

    async def __call__(self, records: list[Record]) -> None:
        good: list[Decoded[P]] = []
        dead: list[OutgoingMessage] = []
        for record in records:
            try:
                good.append((record, self.decode(record)))
            except POISON_ERRORS as exc:
                dead.append(self._dead(record, f"{type(exc).__name__}: {exc}"))
        published = await self._apply_isolating(good, dead)
        if dead:
            await self.publisher.publish(dead)
        if self.outbox is not None:
            await self.outbox.flush(published)

    async def _apply_isolating(self, good: list[Decoded[P]], dead: list[OutgoingMessage]) -> list[OutgoingMessage]:
        if not good:
            return []
        try:
            return await self.apply(good)
        except Exception as exc:
            if is_transient(exc):
                raise
            log.warning("batch failed, applying its records one by one", extra=log_fields(service=self.service))
        published: list[OutgoingMessage] = []
        for item in good:
            try:
                published += await self.apply([item])
            except Exception as exc:
                if is_transient(exc):
                    raise
                log.exception("record failed alone, dead-lettered", extra=log_fields(service=self.service))
                dead.append(self._dead(item[0], f"{type(exc).__name__}: {exc}"))
        return published

    def _dead(self, record: Record, error: str) -> OutgoingMessage:
        DEAD_LETTERS.labels(self.service, record.topic).inc()
        log.warning(
            "dead-lettered record",
            extra=log_fields(topic=record.topic, partition=record.partition, offset=record.offset, error=error[:300]),
        )
        return dead_letter_message(record, self.service, error)


def header(record: Record, name: str) -> str | None:
    """A Kafka header's value as text."""
    for key, value in record.headers or ():
        if key == name:
            return value.decode("utf-8", errors="replace")
    return None


def bind_correlation(record: Record) -> None:
    """Carry the correlation id from the record's headers into this task's log lines."""
    correlation_id.set(header(record, "correlation_id"))
