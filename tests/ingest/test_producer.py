"""The record ingest publishes: its hand-built envelope is the CloudEvent model's, byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.ingest.domain import IncomingBody, to_lead_event
from services.ingest.producer import cloud_event_bytes, to_cloud_event
from services.ingest.schemas import BantBody, BehaviorEvent, FeedbackEvent, FormEvent, TradeshowEvent, WebinarEvent
from shared.events import Channel, LeadEvent, decode

BodyCase = tuple[Channel, IncomingBody]
RECEIVED = datetime(2026, 11, 23, 1, 2, 3, 456789, tzinfo=UTC)
BODIES: list[BodyCase] = [
    (
        Channel.WEB_FORM,
        FormEvent(
            email="ＴＡＮＡＫＡ＠ＥＸＡＭＰＬＥ．ＣＯ．ＪＰ",
            name="田中 太郎",
            company="株式会社サンプル",
            title="営業部長",
            phone="03-1234-5678",
            employees=500,
            country="jp",
            form="demo_request",
            occurred_at=datetime.fromisoformat("2026-11-22T10:00:00.5+09:00"),
        ),
    ),
    (Channel.WEBINAR, WebinarEvent(email="a@example.com", webinar="w1", action="attended", minutes=42)),
    (Channel.TRADESHOW, TradeshowEvent(email="b@example.com", show="Japan IT Week", rating="hot", event_id="s-1")),
    (Channel.BEHAVIOR, BehaviorEvent(email="c@example.com", type="page_view", url="https://x.example/p?q=1")),
    (Channel.FEEDBACK, FeedbackEvent(lead_id="ld_" + "0" * 24, action="bant", bant=BantBody(budget=True))),
]


@pytest.mark.parametrize(("channel", "body"), BODIES, ids=[c.value for c, _ in BODIES])
def test_the_published_record_is_the_cloud_event_models_bytes(channel: Channel, body: IncomingBody) -> None:
    event = to_lead_event(channel, body, received_at=RECEIVED, source=f"api:{channel.value}")
    assert cloud_event_bytes(event, "corr-1") == to_cloud_event(event, "corr-1").to_bytes()


def test_the_published_record_decodes_back_to_the_same_event() -> None:
    channel, body = BODIES[0]
    event = to_lead_event(channel, body, received_at=RECEIVED, source="api:web_form")
    decoded = decode(cloud_event_bytes(event, "corr-2"), LeadEvent)
    assert decoded.data == event
    assert decoded.time == event.occurred_at
    assert decoded.correlationid == "corr-2"
