"""A flood from one source is rate-limited with 429 and Retry-After, and another source is still served."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from leadflow import stack
from tests.conftest import StackUrls
from tests.e2e.helpers import API_KEY, unique_person

pytestmark = pytest.mark.integration
# The test stack's second key floods, so the key every other test uses is never throttled.
FLOOD_KEY = dict(stack.TEST.env)["INGEST_API_KEYS"].split(",")[1]
# A second ingest instance with a small bucket: the limit is reached by a test's worth of requests on any
# machine, where the default (a burst of 200, then 50/s) needs more than a loaded CI box can send.
BURST, PER_S = 5, 1.0
FLOOD_SIZE = 20


@pytest.fixture(scope="module")
def tight_ingest(stack_urls: StackUrls, test_layout: stack.Layout) -> Iterator[str]:
    spec = test_layout.service("ingest", instance=2)
    stack.start_service(
        test_layout,
        spec,
        {"RATE_LIMIT_SOURCE_BURST": str(BURST), "RATE_LIMIT_PER_SOURCE_PER_S": str(PER_S)},
    )
    try:
        stack.wait_service(test_layout, spec)
        yield spec.url
    finally:
        stack.stop_service(test_layout, spec)


async def test_a_flood_from_one_key_is_throttled_while_another_key_is_served(
    http: httpx.AsyncClient, tight_ingest: str
) -> None:
    # Given one source replaying the same form as fast as it can (the same event id: nothing is applied twice)
    body = {**unique_person(), "form": "newsletter", "event_id": "flood-1"}

    async def one() -> httpx.Response:
        return await http.post(f"{tight_ingest}/v1/events/form", json=body, headers={"X-API-Key": FLOOD_KEY})

    answers = await asyncio.gather(*(one() for _ in range(FLOOD_SIZE)))
    # When another source posts a lead right after it
    other = await http.post(
        f"{tight_ingest}/v1/events/form", json={**unique_person(), "form": "contact"}, headers={"X-API-Key": API_KEY}
    )
    # Then the flooding source was told to slow down, with a Retry-After
    throttled = [r for r in answers if r.status_code == 429]
    assert len(throttled) >= FLOOD_SIZE - BURST - 2  # the bucket refills a little while the flood is sent
    assert int(throttled[0].headers["Retry-After"]) >= 1
    assert {r.status_code for r in answers} <= {202, 429}
    # And the other source was served
    assert other.status_code == 202
