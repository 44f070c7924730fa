"""One lifespan shape for every consumer service: engine, migrations, producer, outbox, consumer loops.

Start-up in order, teardown in reverse: stop consuming (the batch in hand finishes), stop the relay, flush
the producer, dispose the engine. Nothing happens at import time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.consumer import BatchProcessor, Decoded, Record
from shared.db import create_engine, migrate, ping, session_factory
from shared.gc_tuning import tune_gc
from shared.kafka import ConsumerLoop, OutgoingMessage, Publisher
from shared.lag import report_lag
from shared.logging import configure_logging
from shared.metrics import batch_observer
from shared.outbox import Outbox
from shared.service import add_ready_check, cancel_quietly
from shared.settings import BaseServiceSettings


@dataclass
class Runtime:
    """What a consumer service's lifespan holds, typed."""

    service: str
    settings: BaseServiceSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    publisher: Publisher
    outbox: Outbox | None
    loops: list[ConsumerLoop] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def consume(
        self,
        *,
        topics: Sequence[str],
        group_id: str,
        decode: Callable[[Record], Any],
        apply: Callable[[Sequence[Decoded[Any]]], Awaitable[list[OutgoingMessage]]],
        max_records: int = 500,
        concurrency: int = 1,
    ) -> ConsumerLoop:
        """Start a consumer loop under the service's consumer contract."""
        loop = ConsumerLoop(
            name=self.service,
            topics=topics,
            group_id=group_id,
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            handler=BatchProcessor(
                service=self.service, decode=decode, apply=apply, producer=self.publisher, outbox=self.outbox
            ),
            max_records=max_records,
            concurrency=concurrency,
            merge_partitions=self.settings.consumer_merge_partitions,
            max_partition_fetch_bytes=self.settings.kafka_max_partition_fetch_bytes,
            on_batch=batch_observer(self.service),
        )
        self.loops.append(loop)
        self.tasks.append(asyncio.create_task(loop.run(), name=f"{self.service}-consumer"))
        self.background(
            report_lag(self.settings.kafka_bootstrap_servers, group_id, list(topics), self.service,
                       self.settings.lag_interval_s),
            name=f"{self.service}-lag",
        )  # fmt: skip
        return loop

    def background(self, coro: Awaitable[None], name: str) -> None:
        """Run a periodic task (relay, timers) until shutdown."""
        self.tasks.append(asyncio.create_task(coro, name=name))  # type: ignore[arg-type]


@asynccontextmanager
async def service_runtime(
    app: FastAPI,
    *,
    service: str,
    settings: BaseServiceSettings,
    schema: str,
    migrations: Path,
    outbox_table: sa.Table | None,
) -> AsyncIterator[Runtime]:
    """Open the service's resources, register readiness checks, and close them in reverse order."""
    configure_logging(service, settings.log_level)
    engine = create_engine(settings.database_url, settings.db_pool_size, settings.db_pool_timeout_s)
    try:
        if settings.migrate_on_start:
            await migrate(engine, migrations, schema)
        sessions = session_factory(engine)
        publisher = Publisher.connect(settings.kafka_bootstrap_servers, client_id=service)
        await publisher.start()
    except BaseException:
        await engine.dispose()
        raise
    outbox = Outbox(outbox_table, publisher, sessions) if outbox_table is not None else None
    runtime = Runtime(service, settings, engine, sessions, publisher, outbox)
    if outbox is not None:
        runtime.background(outbox.relay_forever(), name=f"{service}-outbox-relay")

    async def kafka_ready() -> None:
        await publisher.producer.client.fetch_all_metadata()

    async def consuming() -> None:
        if not all(loop.healthy for loop in runtime.loops):
            raise ConnectionError("consumer not connected")

    add_ready_check(app, "database", lambda: ping(engine))
    add_ready_check(app, "kafka", kafka_ready)
    add_ready_check(app, "consumer", consuming)
    app.state.sessions = sessions
    tune_gc(settings.gc_threshold_values)
    try:
        yield runtime
    finally:
        for loop in runtime.loops:
            loop.stop()
        consumers = [t for t in runtime.tasks if t.get_name().endswith("-consumer")]
        if consumers:
            await asyncio.wait(consumers, timeout=15)
        await cancel_quietly(runtime.tasks)
        if outbox is not None:
            await outbox.close()
        await publisher.stop()
        await engine.dispose()
