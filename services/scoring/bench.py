"""Scoring throughput benchmark (not a test): fill a topic, then time the real consumer path draining it.

It runs the service's own pieces (ConsumerLoop → BatchProcessor → ScoringHandler → outbox) on a topic of its
own, and publishes to a scored topic of its own, so a running router never sees the synthetic leads. It
writes those leads to scoring's database: run it on a scratch stack (a test slot) and reset it afterwards.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.consumer import ScoringHandler, decode_event
from services.scoring.model import ScoringModel
from services.scoring.models import outbox as outbox_table
from shared.consumer import BatchProcessor
from shared.db import create_engine, session_factory
from shared.events import Channel, CloudEvent, CloudEventType, EventKind, LeadEvent, Person
from shared.gc_tuning import tune_gc
from shared.kafka import ConsumerLoop, OutgoingMessage, create_producer, publish_stream
from shared.outbox import Outbox

_KINDS = (EventKind.EMAIL_OPEN, EventKind.PAGE_VIEW, EventKind.EMAIL_CLICK, EventKind.WEBINAR_ATTENDED,
          EventKind.WHITEPAPER_DOWNLOAD, EventKind.PAGE_VIEW, EventKind.EMAIL_OPEN, EventKind.DEMO_REQUEST)  # fmt: skip


@dataclass(frozen=True)
class BenchResult:
    events: int
    leads: int
    fill_s: float
    drain_s: float
    drain_cpu_s: float = 0.0  # this process's CPU time while draining: steadier than events/s on a shared machine

    @property
    def events_per_s(self) -> float:
        return self.events / self.drain_s if self.drain_s else 0.0


class _RedirectedOutbox(Outbox):
    """The real outbox, publishing to the benchmark's own topic instead of the live scored topic."""

    def __init__(self, *args: object, topic: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.topic = topic

    def _moved(self, messages: Sequence[OutgoingMessage]) -> list[OutgoingMessage]:
        return [OutgoingMessage(m.id, self.topic, m.key, m.value, m.headers) for m in messages]

    async def add(self, session: AsyncSession, messages: Sequence[OutgoingMessage]) -> None:
        await super().add(session, self._moved(messages))

    async def flush(self, messages: Sequence[OutgoingMessage]) -> None:
        await super().flush(self._moved(messages))


def _event(n: int, leads: int, run: str, now: datetime) -> CloudEvent[LeadEvent]:
    lead = n % leads
    lead_id = f"ld_{uuid.uuid5(uuid.NAMESPACE_URL, f'{run}/{lead}').hex[:24]}"
    at = now - timedelta(minutes=n // leads)
    data = LeadEvent(
        event_id=f"bench-{run}-{n}", lead_id=lead_id, channel=Channel.BEHAVIOR, kind=_KINDS[(n // leads) % len(_KINDS)],
        occurred_at=at, received_at=at, source="bench",
        person=Person(email=f"bench{lead}@example.com", email_domain="example.com", employees=500),
    )  # fmt: skip
    return CloudEvent[LeadEvent](id=data.event_id, source="/bench", type=CloudEventType.LEAD_EVENT, time=at, data=data)


async def run_bench(
    *,
    bootstrap: str,
    database_url: str,
    model: ScoringModel,
    events: int,
    leads: int,
    batch: int,
    partitions: int,
    concurrency: int = 1,
) -> BenchResult:
    """Fill a fresh topic with ``events`` over ``leads``, then time scoring it end to end."""
    run = uuid.uuid4().hex[:8]
    topic_in, topic_out = f"leadflow.bench-events.{run}", f"leadflow.bench-scored.{run}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="scoring-bench")
    await admin.start()
    await admin.create_topics([NewTopic(t, partitions, 1) for t in (topic_in, topic_out)])
    producer = create_producer(bootstrap, client_id="scoring-bench")
    await producer.start()
    engine = create_engine(database_url, pool_size=max(2, concurrency + 1))
    outbox: Outbox | None = None
    try:
        started = time.perf_counter()
        now = datetime.now(UTC)
        clouds = (_event(n, leads, run, now) for n in range(events))
        await publish_stream(producer, ((topic_in, c.data.lead_id.encode(), c.to_bytes(), ()) for c in clouds))
        fill_s = time.perf_counter() - started

        sessions = session_factory(engine)
        outbox = _RedirectedOutbox(outbox_table, producer, sessions, topic=topic_out)
        handler = ScoringHandler(sessions, outbox, model=lambda: model)
        done = asyncio.Event()
        consumed = 0

        def on_batch(_: str, size: int, __: float) -> None:
            nonlocal consumed
            consumed += size
            if consumed >= events:
                done.set()

        loop = ConsumerLoop(
            name="scoring-bench", topics=[topic_in], group_id=f"scoring-bench-{run}", bootstrap_servers=bootstrap,
            handler=BatchProcessor(service="scoring-bench", decode=decode_event, apply=handler.apply,
                                   producer=producer, outbox=outbox),
            max_records=batch, concurrency=concurrency, on_batch=on_batch,
        )  # fmt: skip
        tune_gc()  # as the service does once started
        started, cpu_started = time.perf_counter(), time.process_time()
        task = asyncio.create_task(loop.run())
        await done.wait()
        drain_s, drain_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
        loop.stop()
        await task
        return BenchResult(events, leads, fill_s, drain_s, drain_cpu_s)
    finally:
        if outbox is not None:
            await outbox.close()
        await producer.stop()
        await engine.dispose()
        await admin.delete_topics([topic_in, topic_out])
        await admin.close()
