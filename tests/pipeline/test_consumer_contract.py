"""The consumer contract on the real broker and database: poison is set aside, redelivery changes nothing,
and what a crash left in an outbox still reaches its consumer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy.ext.asyncio import create_async_engine

from shared.events import (
    Channel,
    CloudEvent,
    CloudEventType,
    EventKind,
    LeadEvent,
    LeadScored,
    Person,
    Rank,
    Seniority,
    Stage,
    Temperature,
    Topics,
)
from shared.normalize import lead_id_for
from tests.conftest import StackUrls, eventually
from tests.e2e.helpers import API_KEY, slack_messages_about, unique_person

pytestmark = pytest.mark.integration


@pytest.fixture
async def producer(stack_urls: StackUrls) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=stack_urls.kafka, acks="all", enable_idempotence=True)
    await producer.start()
    yield producer
    await producer.stop()


async def _dead_letters(kafka: str, marker: str) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        Topics.DEAD_LETTER,
        bootstrap_servers=kafka,
        group_id=f"test-dlq-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        found: list[dict[str, Any]] = []
        batches = await consumer.getmany(timeout_ms=2000, max_records=100_000)
        for records in batches.values():
            for record in records:
                letter = orjson.loads(record.value)["data"]
                if marker in letter["raw"]:
                    found.append(letter)
        return found
    finally:
        await consumer.stop()


async def test_a_record_that_is_not_json_goes_to_the_dead_letter_topic_and_the_partition_moves_on(
    stack_urls: StackUrls, producer: AIOKafkaProducer, http: httpx.AsyncClient
) -> None:
    # Given a broken record on the partition of a real lead, followed by that lead's demo request
    person = unique_person()
    lead_id = lead_id_for(person["email"])
    marker = f"not-json-{uuid.uuid4().hex}"
    await producer.send_and_wait(Topics.EVENTS, f"{{{marker}".encode(), key=lead_id.encode())
    response = await http.post(
        f"{stack_urls.ingest}/v1/events/form", json={**person, "form": "demo_request"}, headers={"X-API-Key": API_KEY}
    )
    assert response.status_code == 202
    # Then the demo request behind it is still scored and alerted
    await eventually(lambda: slack_messages_about(http, stack_urls.standins, person["name"]))
    # And the broken record sits in the dead-letter topic with where it came from and why
    letters = await eventually(lambda: _dead_letters(stack_urls.kafka, marker))
    assert letters[0]["topic"] == Topics.EVENTS
    assert letters[0]["consumer"] == "scoring"
    assert "JSON" in letters[0]["error"] or "json" in letters[0]["error"]


async def test_a_well_formed_record_of_an_unknown_type_is_dead_lettered(
    stack_urls: StackUrls, producer: AIOKafkaProducer
) -> None:
    marker = uuid.uuid4().hex
    cloud = {
        "specversion": "1.0",
        "id": marker,
        "source": "/x",
        "type": "com.example.unknown",
        "time": "2026-11-23T00:00:00Z",
        "data": {"marker": marker},
    }
    await producer.send_and_wait(Topics.EVENTS, orjson.dumps(cloud), key=b"ld_000000000000000000000000")
    letters = await eventually(lambda: _dead_letters(stack_urls.kafka, marker))
    assert letters[0]["consumer"] == "scoring"


async def test_a_redelivered_routing_decision_alerts_nobody_twice(
    stack_urls: StackUrls, producer: AIOKafkaProducer, http: httpx.AsyncClient
) -> None:
    # Given a lead routed and alerted once
    person = unique_person()
    lead_id = lead_id_for(person["email"])
    await http.post(
        f"{stack_urls.ingest}/v1/events/form", json={**person, "form": "demo_request"}, headers={"X-API-Key": API_KEY}
    )
    await eventually(lambda: slack_messages_about(http, stack_urls.standins, person["name"]))
    decision_id = (await http.get(f"{stack_urls.router}/v1/leads/{lead_id}")).json()["decision_id"]
    # When Kafka redelivers that decision (as after a consumer crash before its offset commit)
    original = await _find_record(stack_urls.kafka, Topics.DECISIONS, decision_id)
    await producer.send_and_wait(Topics.DECISIONS, original, key=lead_id.encode())
    # And, behind it on the same partition, a genuinely new decision for the same lead
    barrier = orjson.loads(original)
    barrier["id"] = barrier["data"]["decision_id"] = f"dec_barrier_{uuid.uuid4().hex}"
    await producer.send_and_wait(Topics.DECISIONS, orjson.dumps(barrier), key=lead_id.encode())
    # Then once the new decision's alert arrived, the person has two messages: the original and the new one
    messages = await eventually(lambda: _at_least(2, slack_messages_about(http, stack_urls.standins, person["name"])))
    assert len(messages) == 2
    assert {m["metadata"]["event_payload"]["key"].split(":")[0] for m in messages} == {decision_id, barrier["id"]}


async def _at_least(n: int, pending: Awaitable[list[dict[str, Any]]]) -> list[dict[str, Any]] | None:
    found = await pending
    return found if len(found) >= n else None


async def _find_record(kafka: str, topic: str, record_id: str) -> bytes:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka, group_id=f"test-find-{uuid.uuid4().hex}", auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=3000, max_records=100_000)
        for records in batches.values():
            for record in records:
                try:
                    found = orjson.loads(record.value).get("id") == record_id
                except (orjson.JSONDecodeError, AttributeError):
                    continue  # other tests write poison into these topics on purpose
                if found:
                    return bytes(record.value)
    finally:
        await consumer.stop()
    raise AssertionError(f"{record_id} not found on {topic}")


async def test_a_scored_update_left_in_the_outbox_by_a_crash_is_relayed_and_routed(
    stack_urls: StackUrls, http: httpx.AsyncClient
) -> None:
    # Given scoring committed a rank-A update but crashed before publishing it (the row is still in its outbox)
    person = unique_person()
    lead_id = lead_id_for(person["email"])
    now = datetime.now(UTC)
    trigger = LeadEvent(
        event_id=f"ev_{uuid.uuid4().hex}", lead_id=lead_id, channel=Channel.WEB_FORM, kind=EventKind.DEMO_REQUEST,
        occurred_at=now, received_at=now, source="api:web_form",
        person=Person(email=person["email"], email_domain=person["email"].split("@")[1], name=person["name"],
                      company=person["company"], seniority=Seniority.DECISION_MAKER, employees=500),
    )  # fmt: skip
    scored = LeadScored(
        lead_id=lead_id, person=trigger.person, fit=25, intent=40, total=65, rank=Rank.A,
        temperature=Temperature.HOT, stage=Stage.MQL, previous_stage=Stage.LEAD, reasons=[], trigger=trigger,
        new_events=[trigger], model_version="test", scored_at=now,
    )  # fmt: skip
    cloud = CloudEvent[LeadScored](
        id=f"sc_{uuid.uuid4().hex}", source="/leadflow/scoring", type=CloudEventType.LEAD_SCORED,
        subject=lead_id, time=now, data=scored,
    )  # fmt: skip
    engine = create_async_engine(stack_urls.database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO scoring.outbox (id, topic, key, value, created_at) "
                    "VALUES (:id, :topic, :key, :value, :at)"
                ),
                {"id": cloud.id, "topic": Topics.SCORED, "key": lead_id, "value": cloud.to_bytes(),
                 "at": now - timedelta(minutes=1)},
            )  # fmt: skip
        # When the relay runs, Then the router routes it and the rep is alerted
        await eventually(lambda: slack_messages_about(http, stack_urls.standins, person["name"]))

        async def drained() -> bool:
            async with engine.connect() as conn:
                left = await conn.execute(
                    sa.text("SELECT count(*) FROM scoring.outbox WHERE id = :id"), {"id": cloud.id}
                )
                return left.scalar_one() == 0

        # And the relayed row is gone from the outbox
        assert await eventually(drained)
    finally:
        await engine.dispose()
