"""End to end on the real stack: an event posted to ingest becomes (or does not become) a rep's alert."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import StackUrls, eventually
from tests.e2e.helpers import API_KEY, emails_about, lead_id, signed, slack_messages_about, unique_person

pytestmark = pytest.mark.integration
HEADERS = {"X-API-Key": API_KEY}


async def _routed(http: httpx.AsyncClient, stack_urls: StackUrls, lid: str) -> dict[str, Any] | None:
    response = await http.get(f"{stack_urls.router}/v1/leads/{lid}")
    if response.status_code == 404:
        return None
    body: dict[str, Any] = response.json()
    return body if body["routed"] else None


async def test_a_vp_demo_request_alerts_the_chosen_rep_on_slack_and_by_email(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given a VP of Sales at a 500-person manufacturer
    person = unique_person()
    # When they request a demo
    response = await http.post(
        f"{stack_urls.ingest}/v1/events/form", json={**person, "form": "demo_request"}, headers=HEADERS
    )
    assert response.status_code == 202
    assert response.json()["lead_id"] == lead_id(person)
    # Then the router gives the lead an owner with a one-hour SLA, and says why
    lead = await eventually(lambda: _routed(http, stack_urls, lead_id(person)))
    assert lead["rank"] == "A"
    assert lead["stage"] == "mql"
    assert lead["score"]["total"] == 75  # 15 decision maker + 10 (300–999) + 10 industry + 40 demo request
    owner = lead["owner"]
    assert owner is not None
    assert "demo request" in lead["why"].lower()
    due = datetime.fromisoformat(lead["sla"]["due_at"])
    assert timedelta(minutes=55) < due - datetime.now(UTC) <= timedelta(hours=1)
    assert lead["trace"]["picked"] == owner["rep_id"]
    # And that rep gets one Slack message naming the person, the company, the score and the reason
    messages = await eventually(lambda: slack_messages_about(http, stack_urls.standins, person["name"]))
    assert len(messages) == 1
    slack = messages[0]
    rendered = str(slack["blocks"])
    assert person["company"] in rendered
    assert "75" in slack["text"]
    assert "Demo request" in rendered
    # And one email to the same rep, with the same facts
    emails = await eventually(lambda: emails_about(http, stack_urls.standins, person["name"]))
    assert len(emails) == 1
    assert emails[0]["rcpt_tos"] == [await _rep_email(http, stack_urls, slack["channel"], emails[0])]
    assert "Demo request" in emails[0]["text"]
    assert person["company"] in emails[0]["html"]


async def _rep_email(http: httpx.AsyncClient, stack_urls: StackUrls, slack_id: str, email: dict[str, Any]) -> str:
    # The test routing config pairs Slack ids and emails; the alert must reach both halves of the same rep.
    from pathlib import Path

    from services.router.config import load_routing_config

    config = load_routing_config(Path(__file__).parents[1] / "fixtures" / "config" / "routing.yaml")
    rep = next(r for r in config.reps if r.slack_id == slack_id)
    return rep.email


async def test_a_newsletter_only_signup_alerts_nobody(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    # Given a staff member at a small company who only signs up for the newsletter
    person = unique_person(title="Engineer", employees=20, industry="retail")
    response = await http.post(
        f"{stack_urls.ingest}/v1/events/form", json={**person, "form": "newsletter"}, headers=HEADERS
    )
    assert response.status_code == 202

    # When the router has seen the scored lead
    async def projected() -> dict[str, Any] | None:
        r = await http.get(f"{stack_urls.router}/v1/leads/{lead_id(person)}")
        return r.json() if r.status_code == 200 else None

    lead = await eventually(projected)
    # Then it is rank C, not routed, and nobody was alerted
    assert lead["rank"] == "C"
    assert lead["routed"] is False
    assert lead["owner"] is None
    notifications = await http.get(f"{stack_urls.notifier}/v1/leads/{lead_id(person)}/notifications")
    assert notifications.json() == []
    assert await slack_messages_about(http, stack_urls.standins, person["name"]) == []


async def test_the_same_event_posted_twice_alerts_once(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    # Given a demo request sent twice by a form platform retrying (same body, same event id)
    person = unique_person()
    body = {**person, "form": "demo_request", "event_id": f"form-retry-{uuid.uuid4().hex}"}
    first = await http.post(f"{stack_urls.ingest}/v1/events/form", json=body, headers=HEADERS)
    second = await http.post(f"{stack_urls.ingest}/v1/events/form", json=body, headers=HEADERS)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    await eventually(lambda: slack_messages_about(http, stack_urls.standins, person["name"]))
    # When a later event of the same lead has gone through (same partition, so both copies are behind it)
    raw, headers = signed({"email": person["email"], "type": "email_click", "url": "https://example.com/x"})
    assert (await http.post(f"{stack_urls.ingest}/v1/events/behavior", content=raw, headers=headers)).status_code == 202

    async def clicked() -> dict[str, Any] | None:
        lead = (await http.get(f"{stack_urls.scoring}/v1/leads/{lead_id(person)}/score")).json()
        return lead if any(r["rule"].startswith("intent.email_click") for r in lead["reasons"]) else None

    score = await eventually(clicked)
    # Then the demo request counted once, and the rep was alerted once on each channel
    assert [r["rule"] for r in score["reasons"]].count("intent.demo_request") == 1
    assert len(await slack_messages_about(http, stack_urls.standins, person["name"])) == 1
    assert len(await emails_about(http, stack_urls.standins, person["name"])) == 1


async def test_the_same_body_without_an_event_id_is_recognised_as_a_duplicate(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    body = {**unique_person(), "form": "contact", "occurred_at": "2026-11-20T10:00:00+09:00"}
    first = await http.post(f"{stack_urls.ingest}/v1/events/form", json=body, headers=HEADERS)
    second = await http.post(f"{stack_urls.ingest}/v1/events/form", json=body, headers=HEADERS)
    assert first.json()["event_id"] == second.json()["event_id"]


async def test_accounts_get_one_voice_a_colleague_goes_to_the_same_owner(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given a lead of one company already routed to a rep
    first = unique_person()
    domain = first["email"].split("@")[1]
    await http.post(f"{stack_urls.ingest}/v1/events/form", json={**first, "form": "demo_request"}, headers=HEADERS)
    owner = (await eventually(lambda: _routed(http, stack_urls, lead_id(first))))["owner"]["rep_id"]
    # When a colleague at the same company (same email domain) asks for a document
    colleague = unique_person(email=f"colleague@{domain}", title="Manager")
    await http.post(
        f"{stack_urls.ingest}/v1/events/form", json={**colleague, "form": "document_request"}, headers=HEADERS
    )
    # Then the colleague goes to the same rep, by account match
    lead = await eventually(lambda: _routed(http, stack_urls, lead_id(colleague)))
    assert lead["owner"]["rep_id"] == owner
    assert lead["trace"]["decided_by"] == "account_match"
