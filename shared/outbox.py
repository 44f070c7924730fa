"""Transactional outbox: downstream records are written in the same transaction as the state they describe.

After the commit they are published and deleted. A crash in between leaves them in the table, and the relay
publishes them later, so a committed change is never lost downstream. Record ids are deterministic, so a
record published twice (crash after publish, before delete) is dropped by the consumer's own dedupe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from sqlalchemy.dialects.postgresql import BYTEA, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import unit_of_work
from shared.kafka import OutgoingMessage, Publisher, is_transient

log = logging.getLogger(__name__)


def outbox_table(metadata: sa.MetaData) -> sa.Table:
    """The outbox table of one service's schema."""
    return sa.Table(
        "outbox",
        metadata,
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("value", BYTEA, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


class Outbox:
    """Adds messages inside a unit of work; flushes them after it committed; relays leftovers."""

    def __init__(
        self, table: sa.Table, producer: Publisher | AIOKafkaProducer, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        self.table = table
        self.publisher = Publisher.of(producer)
        self.sessions = sessions
        self._insert = insert(table).on_conflict_do_nothing(index_elements=["id"])

    async def add(self, session: AsyncSession, messages: Sequence[OutgoingMessage]) -> None:
        """Store messages in the caller's transaction."""
        if not messages:
            return
        rows = [{"id": m.id, "topic": m.topic, "key": m.key, "value": m.value} for m in messages]
        # One statement compiled once, executed over many rows (a per-batch VALUES list recompiles each time).
        await session.execute(self._insert, rows)

    async def flush(self, messages: Sequence[OutgoingMessage]) -> None:
        """Publish committed messages and delete them from the table."""
        if not messages:
            return
        await self.publisher.publish(messages)
        async with unit_of_work(self.sessions) as session:
            await session.execute(sa.delete(self.table).where(self.table.c.id.in_([m.id for m in messages])))

    async def relay_once(self, older_than: timedelta = timedelta(seconds=10), limit: int = 1000) -> int:
        """Publish what a crashed flush left behind; returns how many were relayed."""
        cutoff = datetime.now(UTC) - older_than
        async with unit_of_work(self.sessions) as session:
            rows = (
                await session.execute(
                    sa.select(self.table)
                    .where(self.table.c.created_at < cutoff)
                    .order_by(self.table.c.created_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            messages = [OutgoingMessage(id=r.id, topic=r.topic, key=r.key, value=bytes(r.value)) for r in rows]
            await self.publisher.publish(messages)
            if messages:
                await session.execute(sa.delete(self.table).where(self.table.c.id.in_([m.id for m in messages])))
        if messages:
            log.info("outbox relayed", extra={"fields": {"count": len(messages)}})
        return len(messages)

    async def relay_forever(self, interval_s: float = 5.0) -> None:
        """Background task: keep relaying leftovers until cancelled."""
        while True:
            try:
                await self.relay_once()
            except Exception as exc:
                if is_transient(exc):
                    # Said once a round, so a relay that cannot publish for minutes is visible in the logs.
                    log.warning("outbox relay failed, retrying", extra={"fields": {"error": type(exc).__name__}})
                else:
                    log.exception("outbox relay failed")
            await asyncio.sleep(interval_s)


def create_outbox_table(op: Any, schema: str) -> None:
    """Migration step shared by every service that publishes: create ``<schema>.outbox``."""
    op.create_table(
        "outbox",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("value", BYTEA, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=schema,
    )
