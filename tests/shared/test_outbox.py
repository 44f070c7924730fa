"""The transactional outbox (shared/outbox.py) on the test stack's PostgreSQL and Kafka: published rows are deleted
after the fact, many batches' in one transaction, and nothing published is left behind at shutdown."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from leadflow import stack
from shared.db import create_engine, session_factory, unit_of_work
from shared.kafka import OutgoingMessage, Publisher
from shared.outbox import Outbox, outbox_table
from tests.conftest import StackUrls, eventually

pytestmark = pytest.mark.integration
SCHEMA = "outbox_probe"
TABLE = outbox_table(sa.MetaData(schema=SCHEMA))


@dataclass(frozen=True)
class Env:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    publisher: Publisher
    topic: str


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env(stack_urls: StackUrls) -> AsyncIterator[Env]:
    """A scratch schema with an outbox table, and a scratch topic to publish to."""
    lay = stack.layout_for_tests()
    engine = create_engine(stack.database_url(lay), pool_size=2)
    async with engine.begin() as conn:
        await conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
        await conn.run_sync(TABLE.metadata.create_all)
    topic = f"leadflow.outbox-probe.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap(lay))
    await admin.start()
    await admin.create_topics([NewTopic(topic, 1, 1)])
    publisher = Publisher.connect(stack.kafka_bootstrap(lay), client_id="outbox-tests")
    await publisher.start()
    try:
        yield Env(engine, session_factory(engine), publisher, topic)
    finally:
        await publisher.stop()
        await admin.delete_topics([topic])
        await admin.close()
        async with engine.begin() as conn:
            await conn.execute(sa.text(f'DROP SCHEMA "{SCHEMA}" CASCADE'))
        await engine.dispose()


async def _committed(env: Env, outbox: Outbox, n: int) -> list[OutgoingMessage]:
    """``n`` messages stored in the outbox by a committed unit of work, as a consumer's batch does."""
    messages = [OutgoingMessage(id=f"m-{uuid.uuid4().hex}", topic=env.topic, key="k", value=b"{}") for _ in range(n)]
    async with unit_of_work(env.sessions) as session:
        await outbox.add(session, messages)
    return messages


async def _left(env: Env, messages: list[OutgoingMessage]) -> int:
    async with env.sessions() as session:
        stmt = sa.select(sa.func.count()).select_from(TABLE).where(TABLE.c.id.in_([m.id for m in messages]))
        return int((await session.execute(stmt)).scalar_one())


@contextmanager
def _deletes(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE"):
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def test_rows_of_several_published_batches_are_deleted_together_soon_after(env: Env) -> None:
    # Given an outbox and three committed batches
    outbox = Outbox(TABLE, env.publisher, env.sessions, delete_after_s=0.2)
    batches = [await _committed(env, outbox, 3) for _ in range(3)]
    everything = [m for batch in batches for m in batch]
    with _deletes(env.engine) as deletes:
        # When each batch is published, one after the other
        for batch in batches:
            await outbox.flush(batch)
        # Then their rows are gone soon after, in one delete for all three batches
        await eventually(lambda: _zero(env, everything), within=10)
    assert len(deletes) == 1
    await outbox.close()


async def _zero(env: Env, messages: list[OutgoingMessage]) -> bool:
    return await _left(env, messages) == 0


async def test_closing_deletes_the_published_rows_still_waiting(env: Env) -> None:
    # Given a published batch whose rows would be deleted only a minute later
    outbox = Outbox(TABLE, env.publisher, env.sessions, delete_after_s=60)
    batch = await _committed(env, outbox, 2)
    await outbox.flush(batch)
    assert await _left(env, batch) == 2
    # When the service shuts down
    await outbox.close()
    # Then nothing published is left for the relay to send again
    assert await _left(env, batch) == 0


async def test_rows_never_published_stay_for_the_relay(env: Env) -> None:
    # Given a committed batch whose publish never happened (a crash between commit and flush)
    outbox = Outbox(TABLE, env.publisher, env.sessions, delete_after_s=0.05)
    crashed = await _committed(env, outbox, 2)
    # When another batch is published and swept
    other = await _committed(env, outbox, 1)
    await outbox.flush(other)
    await eventually(lambda: _zero(env, other), within=10)
    await outbox.close()
    # Then the unpublished rows are still there, for the relay to publish
    assert await _left(env, crashed) == 2
