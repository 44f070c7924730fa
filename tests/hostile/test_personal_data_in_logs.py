"""Emails and phone numbers never reach the logs, whatever path a lead takes through the services."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import pytest

from tests.conftest import StackUrls, eventually
from tests.e2e.helpers import API_KEY, lead_id, signed, slack_messages_about, unique_person

pytestmark = pytest.mark.integration
HEADERS = {"X-API-Key": API_KEY}


def _service_logs(stack_urls: StackUrls) -> list[Path]:
    assert stack_urls.logs is not None, "this test reads the stack's own log folder"
    names = ("ingest", "scoring", "router", "notifier")
    return [p for p in Path(stack_urls.logs).glob("*.log") if p.stem.split("-")[0] in names]


async def test_a_lead_through_every_path_leaves_no_email_or_phone_in_any_service_log(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given a person with a unique email and phone number
    digits = f"{random.randrange(10**7):07d}"
    person = unique_person(phone=f"+1 415 {digits[:3]} {digits[3:]}")
    # When they request a demo, get sales feedback, send a form that is refused, and click an email
    await http.post(f"{stack_urls.ingest}/v1/events/form", json={**person, "form": "demo_request"}, headers=HEADERS)
    await http.post(
        f"{stack_urls.ingest}/v1/events/feedback",
        json={"email": person["email"], "action": "contacted", "rep": "rep-in-1"},
        headers=HEADERS,
    )
    refused = await http.post(
        f"{stack_urls.ingest}/v1/events/form", json={**person, "form": "not-a-form"}, headers=HEADERS
    )
    assert refused.status_code == 422
    raw, headers = signed({"email": person["email"], "type": "email_click", "url": "https://example.com/x"})
    await http.post(f"{stack_urls.ingest}/v1/events/behavior", content=raw, headers=headers)
    await eventually(lambda: slack_messages_about(http, stack_urls.standins, person["name"]))

    async def click_scored() -> bool:
        # The click went last on the lead's partition: once it is scored, every earlier event was handled.
        response = await http.get(f"{stack_urls.scoring}/v1/leads/{lead_id(person)}/score")
        return response.status_code == 200 and any(
            r["rule"].startswith("intent.email_click") for r in response.json()["reasons"]
        )

    await eventually(click_scored)
    # Then no service log holds the email (in any case) or the phone number (in any common spelling)
    email = person["email"].lower()
    phone_forms = {f"+1415{digits}", f"415{digits}", f"415 {digits[:3]} {digits[3:]}", f"415-{digits[:3]}-{digits[3:]}"}
    leaks = [
        path.name
        for path in _service_logs(stack_urls)
        for text in [path.read_text(errors="replace").lower()]
        if email in text or any(p in text for p in phone_forms)
    ]
    assert leaks == []
