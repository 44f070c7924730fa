"""Ingest heals a producer left out of step with the broker, instead of answering 503 for good."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiokafka import TopicPartition

from services.ingest.domain import to_lead_event
from services.ingest.producer import EventPublisher, PublishUnavailable
from services.ingest.schemas import BehaviorEvent
from shared.events import Channel, LeadEvent, Topics
from shared.kafka import Publisher
from tests.conftest import StackUrls

pytestmark = pytest.mark.integration


EMAIL = f"recovery-{datetime.now(UTC).timestamp()}@example.com"


def _event(n: int) -> LeadEvent:
    # One person, so one partition: the one whose sequence is broken below
    body = BehaviorEvent(email=EMAIL, type="page_view", url=f"https://site.example/page/{n}")
    return to_lead_event(Channel.BEHAVIOR, body, received_at=datetime.now(UTC), source="test:recovery")


async def test_a_publish_refused_as_out_of_order_replaces_the_producer_and_the_next_one_is_accepted(
    stack_urls: StackUrls,
) -> None:
    # Given ingest's publisher, connected, whose producer then falls out of step with the broker on the lead's
    # partitions (what a batch expiring during a broker outage leaves behind in aiokafka)
    connected = Publisher.connect(stack_urls.kafka, client_id="test-ingest")
    await connected.start()
    publisher = EventPublisher(connected, timeout_s=15)
    try:
        await publisher.publish([_event(0)])
        broken = connected.producer
        for partition in range(6):
            broken._txn_manager.increment_sequence_number(TopicPartition(Topics.EVENTS, partition), 5)

        # When an event is published: the broker refuses it, the client is told 503, the producer is replaced
        with pytest.raises(PublishUnavailable):
            await publisher.publish([_event(1)])
        assert connected.producer is not broken

        # Then the client's retry is accepted
        await publisher.publish([_event(1)])
    finally:
        await connected.stop()
