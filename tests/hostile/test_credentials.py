"""Wrong, missing and replayed API keys and webhook signatures: a clear 401, and a replay applied once."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest

from tests.conftest import StackUrls
from tests.e2e.helpers import API_KEY, signed, unique_person

pytestmark = pytest.mark.integration


async def _form(http: httpx.AsyncClient, stack_urls: StackUrls, headers: dict[str, str]) -> httpx.Response:
    return await http.post(
        f"{stack_urls.ingest}/v1/events/form", json={**unique_person(), "form": "contact"}, headers=headers
    )


async def _behavior(
    http: httpx.AsyncClient, stack_urls: StackUrls, raw: bytes, headers: dict[str, str]
) -> httpx.Response:
    return await http.post(f"{stack_urls.ingest}/v1/events/behavior", content=raw, headers=headers)


def _click() -> dict[str, str]:
    return {"email": unique_person()["email"], "type": "email_click", "url": "https://example.com/pricing"}


async def test_a_form_without_an_api_key_is_refused(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    response = await _form(http, stack_urls, {})
    assert response.status_code == 401
    assert response.json()["error"]


async def test_a_form_with_a_wrong_api_key_is_refused_without_echoing_it(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given a key one character off a real one
    wrong = API_KEY[:-1] + ("x" if API_KEY[-1] != "x" else "y")
    # When it is used
    response = await _form(http, stack_urls, {"X-API-Key": wrong})
    # Then it is a 401 that does not repeat the key back
    assert response.status_code == 401
    assert wrong not in response.text


async def test_an_api_key_in_another_case_is_refused(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    response = await _form(http, stack_urls, {"X-API-Key": API_KEY.upper()})
    assert response.status_code == 401


async def test_a_webhook_without_a_signature_is_refused(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    raw = orjson.dumps(_click())
    response = await _behavior(http, stack_urls, raw, {"content-type": "application/json"})
    assert response.status_code == 401


async def test_a_webhook_signed_with_another_secret_is_refused(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    raw, headers = signed(_click(), secret="not-the-secret")
    response = await _behavior(http, stack_urls, raw, headers)
    assert response.status_code == 401


async def test_a_webhook_signed_ten_minutes_ago_is_refused_as_stale(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given a correctly signed webhook captured ten minutes ago, past the five-minute tolerance
    raw, headers = signed(_click(), at=int(time.time()) - 600)
    # When it is replayed
    response = await _behavior(http, stack_urls, raw, headers)
    # Then it is refused
    assert response.status_code == 401


async def test_a_valid_signature_replayed_on_another_body_is_refused(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given the headers of one genuine webhook
    _, headers = signed(_click())
    # When an attacker sends them with a body of their own
    forged = orjson.dumps({**_click(), "type": "whitepaper_download"})
    response = await _behavior(http, stack_urls, forged, headers)
    # Then the signature does not match the body
    assert response.status_code == 401


async def test_a_webhook_replayed_within_the_tolerance_is_applied_once(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given a genuine webhook
    raw, headers = signed(_click())
    # When it is delivered twice, as a vendor retrying after a timeout does
    first = await _behavior(http, stack_urls, raw, headers)
    second = await _behavior(http, stack_urls, raw, headers)
    # Then both are acknowledged as the same event, so it counts once
    assert first.status_code == second.status_code == 202
    assert first.json()["event_id"] == second.json()["event_id"]


async def test_a_non_numeric_signature_timestamp_is_refused(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    raw, headers = signed(_click())
    response = await _behavior(http, stack_urls, raw, {**headers, "X-LeadFlow-Timestamp": "yesterday"})
    assert response.status_code == 401
