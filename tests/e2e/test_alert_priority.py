"""A wave of SLA escalations, paced by Slack's one message a second per channel, never holds up a new alert."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from shared.events import CloudEvent, CloudEventType, SlaEventKind, Topics
from tests.conftest import StackUrls, eventually
from tests.e2e.helpers import API_KEY, slack_messages_about, unique_person
from tests.notifier.factories import a_lead, a_person, a_rep, an_sla_event

pytestmark = pytest.mark.integration

FLOOD = 20  # escalations to one manager: the burst (5), then one a second


async def _messages_in(http: httpx.AsyncClient, standins: str, channel: str) -> list[dict[str, Any]]:
    response = await http.get(f"{standins}/_standin/slack/messages")
    response.raise_for_status()
    return [
        m for m in response.json()["messages"] if m.get("channel") == channel and m.get("method") == "chat.postMessage"
    ]


async def test_a_new_leads_alert_goes_out_while_a_wave_of_escalations_is_still_being_paced(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given twenty breached SLAs escalated at once to one manager, as the router publishes them
    run = uuid.uuid4().hex[:8]
    manager_channel = f"U0FLOOD{run.upper()}"
    manager = a_rep(rep_id=f"mgr-{run}", slack_id=manager_channel, email=f"mgr-{run}@seller.example")
    producer = AIOKafkaProducer(bootstrap_servers=stack_urls.kafka, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for n in range(FLOOD):
            lead = a_lead(lead_id=f"ld_{uuid.uuid4().hex[:24]}", person=a_person(name=f"Flood {run} {n}"))
            event = an_sla_event(
                SlaEventKind.BREACH, escalate_to=manager, late_by=timedelta(minutes=1), lead=lead,
                now=datetime.now(UTC),
            )  # fmt: skip
            cloud = CloudEvent(
                id=event.sla_event_id, source="/test/router", type=CloudEventType.SLA_EVENT, subject=event.lead_id,
                time=event.fired_at, data=event,
            )  # fmt: skip
            await producer.send_and_wait(Topics.SLA, cloud.to_bytes(), key=event.lead_id.encode())
    finally:
        await producer.stop()
    await eventually(lambda: _at_least(http, stack_urls.standins, manager_channel, 1))

    # When a VP requests a demo meanwhile
    person = unique_person()
    response = await http.post(
        f"{stack_urls.ingest}/v1/events/form", json={**person, "form": "demo_request"}, headers={"X-API-Key": API_KEY}
    )
    assert response.status_code == 202

    # Then the rep's alert arrives before the manager's channel has worked through the wave
    alert = (await eventually(lambda: slack_messages_about(http, stack_urls.standins, person["name"]), within=60))[0]
    wave = await eventually(lambda: _at_least(http, stack_urls.standins, manager_channel, FLOOD), within=90)
    assert len(wave) == FLOOD  # and every escalation is still delivered, once
    assert alert["received_at"] < max(m["received_at"] for m in wave)


async def _at_least(http: httpx.AsyncClient, standins: str, channel: str, n: int) -> list[dict[str, Any]] | None:
    found = await _messages_in(http, standins, channel)
    return found if len(found) >= n else None
