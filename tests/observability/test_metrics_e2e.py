"""After one lead goes end to end, every service exposes the metrics the dashboard and alerts read."""

from __future__ import annotations

import re

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import StackUrls, eventually
from tests.e2e.helpers import API_KEY, lead_id, slack_messages_about, unique_person

pytestmark = pytest.mark.integration

Samples = dict[str, list[dict[str, str]]]


async def _scrape(http: httpx.AsyncClient, url: str) -> Samples:
    response = await http.get(f"{url}/metrics")
    assert response.status_code == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(dict(sample.labels))
    return samples


async def _routed_and_alerted(http: httpx.AsyncClient, stack_urls: StackUrls) -> str:
    person = unique_person()
    response = await http.post(
        f"{stack_urls.ingest}/v1/events/form", json={**person, "form": "demo_request"}, headers={"X-API-Key": API_KEY}
    )
    assert response.status_code == 202
    await eventually(lambda: slack_messages_about(http, stack_urls.standins, person["name"]))
    await http.get(f"{stack_urls.router}/v1/leads/{lead_id(person)}")
    return lead_id(person)


async def test_each_service_exposes_its_pipeline_and_business_metrics_after_an_end_to_end_run(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given one demo request that went all the way to a Slack alert
    await _routed_and_alerted(http, stack_urls)
    # When Prometheus would scrape the four services
    ingest = await _scrape(http, stack_urls.ingest)
    scoring = await _scrape(http, stack_urls.scoring)
    router = await _scrape(http, stack_urls.router)
    notifier = await _scrape(http, stack_urls.notifier)
    # Then requests are counted by route template and status
    assert {"service": "ingest", "route": "/v1/events/form", "method": "POST", "status": "202"} in ingest[
        "leadflow_http_requests_total"
    ]
    assert any(s["route"] == "/v1/leads/{lead_id}" for s in router["leadflow_http_requests_total"])
    # And events by channel and kind
    assert {"channel": "web_form", "kind": "demo_request"} in ingest["leadflow_ingest_events_total"]
    # And each consumer's batch sizes and processing latency per topic
    for service, samples, topic in (
        ("scoring", scoring, "leadflow.lead-events.v1"),
        ("router", router, "leadflow.lead-scored.v1"),
        ("notifier", notifier, "leadflow.routing-decisions.v1"),
    ):
        assert {"service": service, "topic": topic} in [
            {k: v for k, v in s.items() if k != "le"} for s in samples["leadflow_consumer_batch_seconds_bucket"]
        ]
        assert any(s["topic"] == topic for s in samples["leadflow_consumer_batch_size_count"])
        # And how old each record was when its batch committed (Kafka timestamp → commit)
        assert {"service": service, "topic": topic} in samples["leadflow_consumer_event_age_seconds_count"]
    # And the business side: stage transitions to MQL, routing decisions, notifications, lead-to-alert latency
    assert any(s["to_stage"] == "mql" for s in scoring["leadflow_stage_transitions_total"])
    assert any(s["kind"] == "assigned" for s in router["leadflow_routing_decisions_total"])
    assert {"medium": "slack", "outcome": "sent"} in notifier["leadflow_notifications_total"]
    assert "leadflow_lead_to_alert_seconds_count" in notifier
    assert any(s["medium"] == "slack" for s in notifier["leadflow_notification_send_seconds_count"])


async def test_no_metric_label_carries_a_lead_id_an_email_or_a_raw_path(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given a lead that went end to end and was looked up by id (a raw path with the id in it)
    lid = await _routed_and_alerted(http, stack_urls)
    # When every service's metrics are read
    values = [
        value
        for url in (stack_urls.ingest, stack_urls.scoring, stack_urls.router, stack_urls.notifier)
        for samples in (await _scrape(http, url)).values()
        for labels in samples
        for value in labels.values()
    ]
    # Then no label value is an id, an email, or a path with an id in it
    assert values
    assert not [v for v in values if lid in v or re.search(r"ld_[0-9a-f]{24}", v)]
    assert not [v for v in values if "@" in v]
