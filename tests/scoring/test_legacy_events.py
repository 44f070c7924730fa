"""History stored under older, looser rules stays readable: one bad stored event never blocks a lead."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import StackUrls, eventually
from tests.e2e.helpers import API_KEY, lead_id, unique_person

pytestmark = pytest.mark.integration


async def test_a_lead_with_an_implausible_stored_event_still_has_its_new_events_scored(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given a lead whose stored history holds an event dated 9999 (accepted before times were checked)
    person = unique_person()
    lid = lead_id(person)
    legacy = {
        "event_id": f"ev_legacy_{uuid.uuid4().hex}", "lead_id": lid, "channel": "web_form", "kind": "contact",
        "occurred_at": "9999-12-31T23:00:00Z", "received_at": "2026-11-01T00:00:00Z", "source": "api:web_form",
        "person": None, "details": {},
    }  # fmt: skip
    engine = create_async_engine(stack_urls.database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO scoring.lead_events (event_id, lead_id, kind, occurred_at, payload) "
                    "VALUES (:id, :lead, 'contact', '2026-11-01T00:00:00Z', CAST(:payload AS jsonb))"
                ),
                {"id": legacy["event_id"], "lead": lid, "payload": orjson.dumps(legacy).decode()},
            )
    finally:
        await engine.dispose()
    # When the lead requests a demo
    response = await http.post(
        f"{stack_urls.ingest}/v1/events/form", json={**person, "form": "demo_request"}, headers={"X-API-Key": API_KEY}
    )
    assert response.status_code == 202

    # Then the demo request is scored, and the unreadable old event is simply left out
    async def scored() -> dict[str, Any] | None:
        answer = await http.get(f"{stack_urls.scoring}/v1/leads/{lid}/score")
        return answer.json() if answer.status_code == 200 else None

    score = await eventually(scored)
    rules = [r["rule"] for r in score["reasons"]]
    assert "intent.demo_request" in rules
    assert "intent.contact" not in rules
