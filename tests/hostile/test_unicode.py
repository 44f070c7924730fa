"""Names as people really write them, and as attackers do: composed, right-to-left, emoji, NUL."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import StackUrls
from tests.e2e.helpers import unique_person
from tests.hostile.helpers import HEADERS, email_alert, post_demo_request, slack_alert, tagged

pytestmark = pytest.mark.integration


async def test_combining_marks_are_composed_so_the_name_reads_the_same_everywhere(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given a name typed with combining marks (e + U+0308, A + U+030A), as macOS keyboards send them
    tag = tagged()
    await post_demo_request(http, stack_urls, name=f"Zoe\u0308 A\u030angstro\u0308m {tag}")
    # When the owner is alerted
    message = await slack_alert(http, stack_urls, tag)
    # Then the alert shows the composed letters (NFKC), which search and sort as people expect
    assert f"Zo\u00eb \u00c5ngstr\u00f6m {tag}" in message["text"]


async def test_a_right_to_left_name_with_an_emoji_arrives_unchanged(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given an Arabic name followed by an emoji outside the Basic Multilingual Plane
    tag = tagged()
    name = f"مريم العلي 🚀 {tag}"
    await post_demo_request(http, stack_urls, name=name, company=f"شركة الاختبار {tag}")
    # When the owner is alerted on Slack and by email
    message = await slack_alert(http, stack_urls, tag)
    mail = await email_alert(http, stack_urls, tag)
    # Then both show the name exactly, emoji included
    assert name in message["text"]
    assert name in mail["subject"]


async def test_a_nul_character_in_a_name_is_dropped_and_the_lead_still_alerted(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given a name with a NUL in it, which PostgreSQL text and JSON cannot store
    tag = tagged()
    await post_demo_request(http, stack_urls, name=f"Ja\x00ne {tag}")
    # When the pipeline has run
    message = await slack_alert(http, stack_urls, tag)
    # Then the lead was not lost to the dead-letter topic: the alert names her without the NUL
    assert f"Jane {tag}" in message["text"]


async def test_a_nul_character_in_an_email_is_refused_rather_than_losing_the_lead(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # A NUL passes a naive shape check and then fails every database downstream: the lead would be lost.
    person = unique_person(email=f"ja\x00ne.{tagged()}@example.com")
    response = await http.post(
        f"{stack_urls.ingest}/v1/events/form", json={**person, "form": "demo_request"}, headers=HEADERS
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"].endswith("email")


async def test_an_impossible_event_time_is_refused_at_the_door(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    # A year-9999 demo request would be routed as rank A and then never alerted (date arithmetic overflows).
    response = await http.post(
        f"{stack_urls.ingest}/v1/events/form",
        json={**unique_person(), "form": "demo_request", "occurred_at": "9999-12-31T23:00:00+00:00"},
        headers=HEADERS,
    )
    assert response.status_code == 422
    assert "occurred_at" in response.json()["errors"][0]["path"]


async def test_a_bidi_override_cannot_disguise_a_name_in_the_alert(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    tag = tagged()
    await post_demo_request(http, stack_urls, name=f"\u202eEve {tag}")
    message = await slack_alert(http, stack_urls, tag)
    assert "\u202e" not in message["text"]
    assert f"Eve {tag}" in message["text"]
