"""Transactional outbox: downstream records are written in the same transaction as the state they describe.

After the commit they are published and deleted. A crash in between leaves them in the table, and the relay
publishes them later, so a committed change is never lost downstream. Record ids are deterministic, so a
record published twice (crash after publish, before delete) is dropped by the consumer's own dedupe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from sqlalchemy.dialects.postgresql import ARRAY, BYTEA, insert
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
        self,
        table: sa.Table,
        producer: Publisher | AIOKafkaProducer,
        sessions: async_sessionmaker[AsyncSession],
        delete_after_s: float = 0.2,
    ) -> None:
        self.table = table
        self.publisher = Publisher.of(producer)
        self.sessions = sessions
        self.delete_after_s = delete_after_s
        self._insert = insert(table).on_conflict_do_nothing(index_elements=["id"])
        self._published: list[str] = []
        self._sweeper: asyncio.Task[None] | None = None

    async def add(self, session: AsyncSession, messages: Sequence[OutgoingMessage]) -> None:
        """Store messages in the caller's transaction."""
        if not messages:
            return
        rows = [{"id": m.id, "topic": m.topic, "key": m.key, "value": m.value} for m in messages]
        # One statement compiled once, executed over many rows (a per-batch VALUES list recompiles each time).
        await session.execute(self._insert, rows)

    async def flush(self, messages: Sequence[OutgoingMessage]) -> None:
        """Publish committed messages; their rows are deleted shortly after, together with other batches' rows."""
        if not messages:
            return
        await self.publisher.publish(messages)
        # Published: the rows are only a crash's safety net now. Deleting them in a transaction of their own cost a
        # third of a small batch's database round trips, so they wait a moment and go with whatever other batches
        # published meanwhile. Until then the relay leaves them alone (it takes rows older than ten seconds); a
        # crash or a failed delete leaves them to the relay, which publishes them again under the same ids, and
        # consumers drop what they already applied.
        self._published.extend(m.id for m in messages)
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep(), name="outbox-sweep")

    async def _sweep(self) -> None:
        # Rows published while a delete runs are taken by the next round of this same task.
        while self._published:
            await asyncio.sleep(self.delete_after_s)
            await self._delete_published()

    async def _delete_published(self) -> None:
        ids, self._published = self._published, []
        if not ids:
            return
        try:
            async with unit_of_work(self.sessions) as session:
                await session.execute(
                    sa.delete(self.table).where(
                        self.table.c.id == sa.any_(sa.bindparam("ids", ids, type_=ARRAY(sa.Text)))
                    )
                )
        except Exception as exc:
            log.warning(
                "published outbox rows not deleted; the relay will publish them again",
                extra={"fields": {"count": len(ids), "error": type(exc).__name__}},
            )

    async def close(self) -> None:
        """Delete what was published and is still waiting to be deleted (at shutdown)."""
        if self._sweeper is not None and not self._sweeper.done():
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self._delete_published()

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
