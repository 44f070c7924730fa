"""The notifier on the real stack: Slack clicks become feedback on Kafka, SLA events become reminders and
escalations, and a Slack refusal is dead-lettered while the email still goes out."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from leadflow import stack
from services.notifier.domain import ACTION_ACCEPT, ACTION_REJECT, render_slack_assignment
from services.notifier.interactions import REASON_CODE_BLOCK, REASON_TEXT_BLOCK, STATUS_BLOCK_ID, slack_signature
from shared.events import (
    CloudEvent,
    CloudEventType,
    EventKind,
    RoutingDecision,
    SlaEvent,
    SlaEventKind,
    Topics,
)
from shared.settings import DEV_SECRET
from tests.conftest import StackUrls, eventually
from tests.notifier.factories import a_decision, a_lead, a_manager, a_person, a_rep, an_sla_event

pytestmark = pytest.mark.integration
SIGNING_SECRET = DEV_SECRET  # the test stack leaves SLACK_SIGNING_SECRET at its development default
SLACK_TOKEN = stack.DEV_SLACK_TOKEN


def bootstrap() -> str:
    return stack.kafka_bootstrap(stack.layout_for_tests())


def unique_ids() -> tuple[str, str]:
    """A lead id and a Slack user id no other test uses."""
    tag = uuid.uuid4().hex
    return f"ld_{tag[:24]}", "U" + tag[:10].upper()


@asynccontextmanager
async def tail(topic: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer positioned at the topic's end: it sees only what is published from now on."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap())
    await producer.start()
    try:
        # The producer's partitions_for waits for the topic's metadata, which a fresh consumer may not have.
        partitions = [TopicPartition(topic, p) for p in await producer.partitions_for(topic)]
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap(), enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)
        yield consumer
    finally:
        await consumer.stop()


async def find(consumer: AIOKafkaConsumer, predicate: Any, within: float = 30) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []

    async def probe() -> dict[str, Any] | None:
        batches = await consumer.getmany(timeout_ms=200)
        for records in batches.values():
            seen.extend(orjson.loads(r.value) for r in records if r.value)
        return next((s for s in seen if predicate(s)), None)

    return await eventually(probe, within=within)


async def publish(topic: str, cloud: CloudEvent[Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap(), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, cloud.to_bytes(), key=str(cloud.subject).encode())
    finally:
        await producer.stop()


def signed(body: bytes, *, secret: str = SIGNING_SECRET, at: int | None = None) -> dict[str, str]:
    stamp = str(at if at is not None else int(time.time()))
    return {
        "content-type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": slack_signature(secret, stamp, body),
    }


async def posted_alert(http: httpx.AsyncClient, standins: str, decision: RoutingDecision) -> dict[str, Any]:
    """Put the decision's alert into the Slack stand-in, as the notifier would have."""
    message = render_slack_assignment(decision, now=datetime.now(UTC))
    response = await http.post(
        f"{standins}/api/chat.postMessage",
        json={"channel": message.channel, "text": message.text, "blocks": message.blocks},
        headers={"Authorization": f"Bearer {SLACK_TOKEN}"},
    )
    body: dict[str, Any] = response.json()
    assert body["ok"], body
    return {"channel": body["channel"], "ts": body["ts"], "blocks": message.blocks}


def click_payload(alert: dict[str, Any], action_id: str, user: str) -> dict[str, Any]:
    (actions,) = [b for b in alert["blocks"] if b["type"] == "actions"]
    (button,) = [e for e in actions["elements"] if e["action_id"] == action_id]
    return {
        "type": "block_actions",
        "user": {"id": user},
        "trigger_id": f"{uuid.uuid4().int % 10**12}.1.abc",
        "container": {"type": "message", "channel_id": alert["channel"], "message_ts": alert["ts"]},
        "message": {"ts": alert["ts"], "blocks": alert["blocks"]},
        "actions": [{"action_id": action_id, "block_id": actions["block_id"], "value": button["value"],
                     "type": "button", "action_ts": f"{time.time():.6f}"}],
    }  # fmt: skip


def as_form(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


async def message_at(http: httpx.AsyncClient, standins: str, channel: str, ts: str) -> dict[str, Any] | None:
    response = await http.get(f"{standins}/_standin/slack/messages", params={"channel": channel})
    return next((m for m in response.json()["messages"] if m["ts"] == ts), None)


# --- signatures at the door ---


async def test_an_unsigned_interaction_is_refused_with_401(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    # Given a request without Slack's signature headers
    # When it is posted to the interactivity URL
    response = await http.post(f"{stack_urls.notifier}/slack/interactions", content=b"payload=%7B%7D")
    # Then it is refused, saying why
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_signature", "reason": "missing"}


@pytest.mark.parametrize(("secret", "age", "reason"), [("wrong-secret", 0, "mismatch"), (SIGNING_SECRET, 301, "stale")])
async def test_a_wrongly_signed_or_replayed_interaction_is_refused_with_401(
    http: httpx.AsyncClient, stack_urls: StackUrls, secret: str, age: int, reason: str
) -> None:
    # Given a request signed with another secret, or signed five minutes and a second ago
    body = as_form({"type": "block_actions"})
    headers = signed(body, secret=secret, at=int(time.time()) - age)
    # When it is posted
    response = await http.post(f"{stack_urls.notifier}/slack/interactions", content=body, headers=headers)
    # Then it is refused
    assert response.status_code == 401
    assert response.json()["reason"] == reason


async def test_a_signed_request_that_is_no_interaction_is_refused_with_400(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given a correctly signed body without a payload
    body = b"hello=world"
    # When it is posted
    response = await http.post(f"{stack_urls.notifier}/slack/interactions", content=body, headers=signed(body))
    # Then it is a clear 400, not a 500
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_payload"


# --- clicks become feedback ---


async def test_an_accept_click_publishes_sales_accepted_and_updates_the_message(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given a rep's alert in Slack
    lead_id, user = unique_ids()
    decision = a_decision(lead=a_lead(lead_id=lead_id), owner=a_rep(slack_id=user), now=datetime.now(UTC))
    alert = await posted_alert(http, stack_urls.standins, decision)
    body = as_form(click_payload(alert, ACTION_ACCEPT, user))
    async with tail(Topics.EVENTS) as events:
        # When the rep clicks Accept
        response = await http.post(f"{stack_urls.notifier}/slack/interactions", content=body, headers=signed(body))
        assert response.status_code == 200
        # Then a sales-accepted feedback event for the lead is on the lead-events topic
        cloud = await find(events, lambda e: e["data"]["lead_id"] == lead_id)
    assert cloud["type"] == CloudEventType.LEAD_EVENT
    assert cloud["data"]["kind"] == EventKind.SALES_ACCEPTED
    assert cloud["data"]["details"]["decision_id"] == decision.decision_id
    # And the message now says who accepted, with only "Log contact" left
    updated = await eventually(lambda: _edited(http, stack_urls.standins, alert["channel"], alert["ts"]))
    status = next(b for b in updated["blocks"] if b.get("block_id") == STATUS_BLOCK_ID)
    assert f"<@{user}>" in status["elements"][0]["text"]


async def _edited(http: httpx.AsyncClient, standins: str, channel: str, ts: str) -> dict[str, Any] | None:
    message = await message_at(http, standins, channel, ts)
    return message if message and message.get("edits") else None


async def test_a_reject_opens_a_modal_and_its_submission_publishes_the_reason(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given a rep's alert in Slack
    lead_id, user = unique_ids()
    decision = a_decision(lead=a_lead(lead_id=lead_id), owner=a_rep(slack_id=user), now=datetime.now(UTC))
    alert = await posted_alert(http, stack_urls.standins, decision)
    click = click_payload(alert, ACTION_REJECT, user)
    body = as_form(click)
    # When the rep clicks Reject
    response = await http.post(f"{stack_urls.notifier}/slack/interactions", content=body, headers=signed(body))
    # Then a modal asking why opens
    assert response.status_code == 200
    views = (await http.get(f"{stack_urls.standins}/_standin/slack/views")).json()["views"]
    view = next(v for v in views if v["trigger_id"] == click["trigger_id"])
    # When the rep picks a reason and submits
    values = {
        REASON_CODE_BLOCK: {"value": {"type": "static_select", "selected_option": {"value": "no_budget"}}},
        REASON_TEXT_BLOCK: {"value": {"type": "plain_text_input", "value": "Budget frozen until April"}},
    }
    submission = {"type": "view_submission", "user": {"id": user}, "view": {**view, "state": {"values": values}}}
    body = as_form(submission)
    async with tail(Topics.EVENTS) as events:
        response = await http.post(f"{stack_urls.notifier}/slack/interactions", content=body, headers=signed(body))
        assert response.status_code == 200
        # Then a sales-rejected event carries the reason
        cloud = await find(events, lambda e: e["data"]["lead_id"] == lead_id)
    assert cloud["data"]["kind"] == EventKind.SALES_REJECTED
    assert cloud["data"]["details"]["reason_code"] == "no_budget"
    assert "Budget frozen until April" in cloud["data"]["details"]["reason"]
    # And the message loses its buttons and shows the reason
    updated = await eventually(lambda: _edited(http, stack_urls.standins, alert["channel"], alert["ts"]))
    assert not [b for b in updated["blocks"] if b["type"] == "actions"]
    assert "Budget frozen until April" in str(updated["blocks"])


# --- SLA events ---


async def test_a_reminder_on_the_sla_topic_reaches_the_owner_on_slack_and_by_email(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given an owner with a rank-A lead due in 15 minutes
    lead_id, user = unique_ids()
    owner = a_rep(slack_id=user, email=f"{user.lower()}@seller.example")
    event = an_sla_event(SlaEventKind.REMINDER, owner=owner, lead=a_lead(lead_id=lead_id), now=datetime.now(UTC))
    # When the router's reminder is published
    await publish(Topics.SLA, _cloud(event))
    # Then the owner gets a Slack reminder with the buttons, and an email
    messages = await eventually(lambda: _slack_to(http, stack_urls.standins, user))
    assert "Reminder" in messages[0]["text"]
    assert any(b["type"] == "actions" for b in messages[0]["blocks"])
    mails = await eventually(lambda: _mail_to(http, stack_urls.standins, owner.email))
    assert "Call within 15 minutes" in mails[0]["text"]


async def test_a_breach_escalates_to_the_manager_naming_the_rep_and_the_delay(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given a window that closed 20 minutes ago with no contact
    lead_id, manager_id = unique_ids()
    event = an_sla_event(
        SlaEventKind.BREACH, escalate_to=a_manager(slack_id=manager_id), late_by=timedelta(minutes=20),
        lead=a_lead(lead_id=lead_id), now=datetime.now(UTC),
    )  # fmt: skip
    # When the breach is published
    await publish(Topics.SLA, _cloud(event))
    # Then the manager reads who is late, on which lead, and by how much
    messages = await eventually(lambda: _slack_to(http, stack_urls.standins, manager_id))
    text = str(messages[0]["blocks"])
    assert "Ken Sato has not contacted Jane Doe (Acme Robotics)" in text
    assert "20 minutes late" in text


def _cloud(event: SlaEvent) -> CloudEvent[SlaEvent]:
    return CloudEvent[SlaEvent](
        id=event.sla_event_id, source="/leadflow/router", type=CloudEventType.SLA_EVENT, subject=event.lead_id,
        time=event.fired_at, data=event,
    )  # fmt: skip


async def _slack_to(http: httpx.AsyncClient, standins: str, channel: str) -> list[dict[str, Any]]:
    response = await http.get(f"{standins}/_standin/slack/messages", params={"channel": channel})
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


async def _mail_to(http: httpx.AsyncClient, standins: str, address: str) -> list[dict[str, Any]]:
    response = await http.get(f"{standins}/_standin/mail/messages", params={"to": address})
    mails: list[dict[str, Any]] = response.json()["messages"]
    return mails


# --- a permanent refusal ---


async def test_a_refused_slack_channel_is_dead_lettered_counted_and_the_email_still_goes_out(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given a rep whose Slack id Slack does not know
    lead_id, _ = unique_ids()
    email = f"gone-{uuid.uuid4().hex[:8]}@seller.example"
    owner = a_rep(slack_id="not-a-slack-id", email=email)
    decision = a_decision(lead=a_lead(lead_id=lead_id, person=a_person()), owner=owner, now=datetime.now(UTC))
    cloud = CloudEvent[RoutingDecision](
        id=decision.decision_id, source="/leadflow/router", type=CloudEventType.ROUTING_DECISION,
        subject=lead_id, time=decision.decided_at, data=decision,
    )  # fmt: skip
    async with tail(Topics.DEAD_LETTER) as letters:
        # When the decision arrives
        await publish(Topics.DECISIONS, cloud)
        # Then its record is dead-lettered with Slack's reason
        letter = await find(letters, lambda e: e.get("subject") == lead_id)
    assert "channel_not_found" in letter["data"]["error"]
    assert letter["data"]["topic"] == Topics.DECISIONS
    # And the rep's email still went out
    assert await eventually(lambda: _mail_to(http, stack_urls.standins, email))
    # And the failure is counted by medium and kind, never by id
    metrics = (await http.get(f"{stack_urls.notifier}/metrics")).text
    assert 'leadflow_notification_permanent_failures_total{kind="assignment",medium="slack"}' in metrics
