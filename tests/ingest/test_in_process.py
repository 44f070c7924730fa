"""A second ingest instance in this process: Kafka down, a restart, and browser forms with their own settings."""

from __future__ import annotations

import uuid

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from leadflow import stack
from services.ingest.models import accepted_events, idempotency_keys
from tests.conftest import StackUrls
from tests.ingest.helpers import JSON_HEADERS, LAYOUT, ingest_in_process

pytestmark = pytest.mark.integration
SITE_KEY = "pk_site_acme"
ORIGIN = "https://www.acme.example"


async def _rows(table: sa.Table, where: sa.ColumnElement[bool]) -> int:
    engine = create_async_engine(stack.database_url(LAYOUT))
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(sa.select(sa.func.count()).select_from(table).where(where))).scalar_one())
    finally:
        await engine.dispose()


async def test_with_kafka_down_a_post_is_503_with_retry_after_and_nothing_is_half_written(
    stack_urls: StackUrls, http: httpx.AsyncClient
) -> None:
    # Given an ingest instance whose Kafka cannot be reached
    key = uuid.uuid4().hex
    body = {"email": f"down.{key}@example.com", "form": "demo_request", "event_id": key}
    async with ingest_in_process({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}, wait_ready=False) as (_, client):
        # When a form is posted with an Idempotency-Key
        refused = await client.post("/v1/events/form", json=body, headers={**JSON_HEADERS, "Idempotency-Key": key})
    # Then it is refused with Retry-After, and neither the key nor the event id was remembered
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) > 0
    assert await _rows(idempotency_keys, idempotency_keys.c.key == key) == 0
    # And the sender's retry, once Kafka is back, is accepted as new (not replayed, not dropped as a duplicate)
    retried = await http.post(
        f"{stack_urls.ingest}/v1/events/form", json=body, headers={**JSON_HEADERS, "Idempotency-Key": key}
    )
    assert retried.status_code == 202
    assert "Idempotent-Replayed" not in retried.headers
    assert await _rows(accepted_events, accepted_events.c.event_id == retried.json()["event_id"]) == 1


async def test_an_idempotency_key_returns_the_first_answer_after_a_restart(
    stack_urls: StackUrls, http: httpx.AsyncClient
) -> None:
    # Given a form accepted by the running ingest under a key
    key = uuid.uuid4().hex
    body = {"email": f"restart.{key}@example.com", "form": "contact"}
    headers = {**JSON_HEADERS, "Idempotency-Key": key}
    first = await http.post(f"{stack_urls.ingest}/v1/events/form", json=body, headers=headers)
    # When a freshly started ingest instance gets the same key
    async with ingest_in_process({}) as (_, client):
        again = await client.post("/v1/events/form", json=body, headers=headers)
    # Then it answers what the first instance answered
    assert again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"


BROWSER = {
    "INGEST_FORM_KEYS": f"{SITE_KEY}:acme",
    "CORS_ORIGINS": ORIGIN,
    "RATE_LIMIT_PER_IP_PER_S": "0.001",
    "RATE_LIMIT_IP_BURST": "3",
}


async def test_a_browser_preflight_from_an_allowed_origin_may_send_the_form_key() -> None:
    async with ingest_in_process(BROWSER) as (_, client):
        response = await client.options(
            "/v1/events/form",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-form-key",
            },
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "x-form-key" in response.headers["access-control-allow-headers"].lower()


async def test_a_preflight_from_an_origin_not_on_the_list_is_refused() -> None:
    async with ingest_in_process(BROWSER) as (_, client):
        response = await client.options(
            "/v1/events/form",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
    assert response.status_code == 400


async def test_a_form_key_submits_forms_and_nothing_else() -> None:
    tag = uuid.uuid4().hex[:8]
    headers = {"X-Form-Key": SITE_KEY, "Origin": ORIGIN, "content-type": "application/json"}
    async with ingest_in_process(BROWSER) as (_, client):
        form = await client.post(
            "/v1/events/form", json={"email": f"b.{tag}@example.com", "form": "contact"}, headers=headers
        )
        webinar = await client.post(
            "/v1/events/webinar",
            json={"email": f"b.{tag}@example.com", "webinar": "w", "action": "attended"},
            headers=headers,
        )
    assert form.status_code == 202
    assert form.headers["access-control-allow-origin"] == ORIGIN
    assert webinar.status_code == 401


async def test_a_filled_honeypot_is_answered_like_a_success_and_dropped() -> None:
    tag = uuid.uuid4().hex[:8]
    body = {"email": f"bot.{tag}@example.com", "form": "contact", "website_url": "http://spam.example"}
    async with ingest_in_process(BROWSER) as (_, client):
        response = await client.post("/v1/events/form", json=body, headers={"X-Form-Key": SITE_KEY})
    assert response.status_code == 202
    assert await _rows(accepted_events, accepted_events.c.event_id == response.json()["event_id"]) == 0


async def test_one_ip_over_its_form_rate_gets_429_with_retry_after() -> None:
    async with ingest_in_process(BROWSER) as (_, client):
        answers = [
            await client.post(
                "/v1/events/form",
                json={"email": f"ip.{uuid.uuid4().hex[:8]}@example.com", "form": "newsletter"},
                headers={"X-Form-Key": SITE_KEY},
            )
            for _ in range(4)
        ]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert int(answers[-1].headers["Retry-After"]) >= 1
