"""The scoring consumer on the real database: a batch costs the same number of queries whatever its size."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import pytest_asyncio
from aiokafka import ConsumerRecord
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from leadflow import stack
from services.scoring.consumer import ScoringHandler
from services.scoring.model import load_scoring_model
from services.scoring.models import outbox as outbox_table
from shared.consumer import Decoded
from shared.db import create_engine, session_factory
from shared.events import Channel, CloudEvent, CloudEventType, EventKind, LeadEvent, Person, Topics
from shared.kafka import create_producer
from shared.outbox import Outbox
from tests.conftest import StackUrls

pytestmark = pytest.mark.integration
MODEL = load_scoring_model(stack.ROOT / "tests" / "fixtures" / "config" / "scoring.yaml")
NOW = datetime.now(UTC)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def handler(stack_urls: StackUrls) -> AsyncIterator[tuple[ScoringHandler, AsyncEngine]]:
    """A scoring handler in this process, on the stack's database and Kafka."""
    lay = stack.layout_for_tests()
    engine = create_engine(stack.database_url(lay), pool_size=2)
    producer = create_producer(stack.kafka_bootstrap(lay), client_id="scoring-tests")
    await producer.start()
    sessions = session_factory(engine)
    outbox = Outbox(outbox_table, producer, sessions)
    try:
        yield ScoringHandler(sessions, outbox, model=lambda: MODEL), engine
    finally:
        await outbox.close()
        await producer.stop()
        await engine.dispose()


def _batch(leads: int, events_per_lead: int) -> list[Decoded[CloudEvent[LeadEvent]]]:
    items: list[Decoded[CloudEvent[LeadEvent]]] = []
    kinds = [EventKind.EMAIL_OPEN, EventKind.PAGE_VIEW, EventKind.WEBINAR_ATTENDED, EventKind.DEMO_REQUEST]
    for _ in range(leads):
        tag = uuid.uuid4().hex
        lid = f"ld_{tag[:24]}"
        who = Person(email=f"p{tag[:8]}@example.com", email_domain="example.com", employees=500)
        for n in range(events_per_lead):
            at = NOW - timedelta(days=n)
            data = LeadEvent(
                event_id=f"ev-{uuid.uuid4().hex}", lead_id=lid, channel=Channel.BEHAVIOR, kind=kinds[n % len(kinds)],
                occurred_at=at, received_at=at, source="test", person=who,
            )  # fmt: skip
            cloud = CloudEvent[LeadEvent](
                id=data.event_id, source="/test", type=CloudEventType.LEAD_EVENT, time=at, data=data
            )
            record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
                Topics.EVENTS, 0, len(items), 0, 0, lid.encode(), cloud.to_bytes(), None, 0, 0, ()
            )
            items.append((record, cloud))
    return items


@contextmanager
def _statements(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def test_a_batch_of_many_leads_costs_as_many_queries_as_a_batch_of_one(
    handler: tuple[ScoringHandler, AsyncEngine],
) -> None:
    scoring, engine = handler
    # Given a batch of 1 event for 1 lead, and one of 600 events over 200 leads
    small, large = _batch(1, 1), _batch(200, 3)
    # When each is applied
    with _statements(engine) as small_statements:
        published_small = await scoring.apply(small)
    with _statements(engine) as large_statements:
        published_large = await scoring.apply(large)
    await scoring.outbox.flush([*published_small, *published_large])
    # Then both took the same statements, bulk, never one per lead or per event; only the histories are read a
    # chunk of leads at a time (their memory is bounded by the chunk, not the batch)
    chunks = -(-200 // scoring.history_chunk)
    assert len(published_large) == 200
    assert chunks > 1
    assert 0 < len(large_statements) == len(small_statements) + chunks - 1
    assert [s for s in large_statements if not _reads_history(s)] == [
        s for s in small_statements if not _reads_history(s)
    ]


def _reads_history(statement: str) -> bool:
    return statement.lstrip().upper().startswith("SELECT") and "lead_events" in statement


async def test_leads_read_a_chunk_at_a_time_are_each_scored_on_their_whole_history(
    handler: tuple[ScoringHandler, AsyncEngine],
) -> None:
    scoring, _ = handler
    chunked = ScoringHandler(scoring.sessions, scoring.outbox, model=lambda: MODEL, history_chunk=2)
    # Given 5 leads with 3 events each already scored
    earlier = _batch(5, 3)
    await scoring.outbox.flush(await chunked.apply(earlier))
    # When one new event per lead arrives in one batch, read two leads at a time
    later = [_next_event(cloud.data) for _, cloud in earlier[::3]]
    published = await chunked.apply(later)
    await scoring.outbox.flush(published)
    # Then every lead's update saw its whole history: the 3 earlier events and the new one
    activity = {orjson.loads(m.value)["data"]["lead_id"]: orjson.loads(m.value)["data"]["recent_activity"]
                for m in published}  # fmt: skip
    assert sorted(activity) == sorted({cloud.data.lead_id for _, cloud in earlier})
    assert {len(a) for a in activity.values()} == {4}


def _next_event(previous: LeadEvent) -> Decoded[CloudEvent[LeadEvent]]:
    data = previous.model_copy(
        update={"event_id": f"ev-{uuid.uuid4().hex}", "kind": EventKind.DEMO_REQUEST, "occurred_at": NOW,
                "received_at": NOW}
    )  # fmt: skip
    cloud = CloudEvent[LeadEvent](id=data.event_id, source="/test", type=CloudEventType.LEAD_EVENT, time=NOW, data=data)
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        Topics.EVENTS, 0, 0, 0, 0, data.lead_id.encode(), cloud.to_bytes(), None, 0, 0, ()
    )
    return (record, cloud)


async def test_a_redelivered_batch_changes_nothing_and_publishes_nothing(
    handler: tuple[ScoringHandler, AsyncEngine],
) -> None:
    scoring, _ = handler
    # Given a batch already applied
    batch = _batch(3, 2)
    await scoring.outbox.flush(await scoring.apply(batch))
    # When Kafka delivers it again
    again = await scoring.apply(batch)
    # Then nothing is published twice
    assert again == []
