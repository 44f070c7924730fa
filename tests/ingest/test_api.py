"""Ingest's HTTP contract on the real stack: auth, clear 4xx, idempotency, duplicates, batch, vendors, CSV."""

from __future__ import annotations

import copy
import io
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from leadflow.commands.ingest import report, upload_tradeshow
from shared.normalize import lead_id_for
from shared.signatures import signed_headers
from tests.conftest import StackUrls, eventually
from tests.ingest.helpers import API_KEY, JSON_HEADERS, WEBHOOK_SECRET, hubspot_headers, mautic_headers, metric

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def person(**overrides: Any) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:10]
    return {"email": f"kim.{tag}@corp-{tag}.example.com", "name": f"Kim {tag}", **overrides}


async def test_an_idempotency_key_replays_the_first_answer_and_publishes_nothing_new(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given a form accepted under an Idempotency-Key
    body = {**person(), "form": "contact"}
    headers = {**JSON_HEADERS, "Idempotency-Key": uuid.uuid4().hex}
    first = await http.post(f"{stack_urls.ingest}/v1/events/form", json=body, headers=headers)
    accepted_before = await metric(http, stack_urls.ingest, "leadflow_ingest_events_total")
    # When the client retries with the same key
    again = await http.post(f"{stack_urls.ingest}/v1/events/form", json=body, headers=headers)
    # Then it gets the first answer back, marked as a replay, and nothing more was published
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await metric(http, stack_urls.ingest, "leadflow_ingest_events_total") == accepted_before


async def test_an_idempotency_key_reused_for_another_body_is_refused(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    headers = {**JSON_HEADERS, "Idempotency-Key": uuid.uuid4().hex}
    await http.post(f"{stack_urls.ingest}/v1/events/form", json={**person(), "form": "contact"}, headers=headers)
    reused = await http.post(
        f"{stack_urls.ingest}/v1/events/form", json={**person(), "form": "demo_request"}, headers=headers
    )
    assert reused.status_code == 422
    assert reused.json()["error"] == "idempotency_key_reused"


async def test_the_same_body_sent_twice_is_published_once(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    body = {**person(), "webinar": "w-2026-11", "action": "attended", "minutes": 42}
    first = await http.post(f"{stack_urls.ingest}/v1/events/webinar", json=body, headers=JSON_HEADERS)
    duplicates_before = await metric(http, stack_urls.ingest, "leadflow_ingest_duplicates_total")
    again = await http.post(f"{stack_urls.ingest}/v1/events/webinar", json=body, headers=JSON_HEADERS)
    assert again.json() == first.json()
    assert await metric(http, stack_urls.ingest, "leadflow_ingest_duplicates_total") == duplicates_before + 1


async def test_a_batch_accepts_good_items_and_rejects_bad_ones_each_with_its_path(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    events = [
        {"channel": "form", "event": {**person(), "form": "pricing"}},
        {"channel": "webinar", "event": {**person(), "webinar": "w1", "action": "danced"}},
        {"channel": "fax", "event": {}},
    ]
    response = await http.post(f"{stack_urls.ingest}/v1/events/batch", json={"events": events}, headers=JSON_HEADERS)
    assert response.status_code == 207
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (1, 2)
    assert [r["status"] for r in body["results"]] == [202, 422, 422]
    assert body["results"][1]["errors"][0]["path"] == "events/1/event/action"
    assert body["results"][2]["errors"][0]["path"] == "events/2/channel"


async def test_a_batch_over_the_event_limit_is_refused(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    events = [{"channel": "form", "event": {"email": f"x{i}@example.com", "form": "contact"}} for i in range(1001)]
    response = await http.post(f"{stack_urls.ingest}/v1/events/batch", json={"events": events}, headers=JSON_HEADERS)
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "body/events"


async def test_a_missing_api_key_is_401(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    response = await http.post(f"{stack_urls.ingest}/v1/events/tradeshow", json={**person(), "show": "s"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_api_key"


async def test_a_body_that_is_not_json_is_415(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    response = await http.post(
        f"{stack_urls.ingest}/v1/events/form",
        content=b"email=a@b.example.com",
        headers={"X-API-Key": API_KEY, "content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415


async def test_a_body_over_256_kib_is_413(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    body = {**person(), "form": "contact", "message": "x" * (257 * 1024)}
    response = await http.post(f"{stack_urls.ingest}/v1/events/form", json=body, headers=JSON_HEADERS)
    assert response.status_code == 413


async def test_a_chunked_body_over_the_limit_is_413_too(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    async def chunks() -> Any:
        for _ in range(300):
            yield b"x" * 1024

    response = await http.post(f"{stack_urls.ingest}/v1/events/form", content=chunks(), headers=JSON_HEADERS)
    assert response.status_code == 413


async def test_bad_fields_get_their_path_and_reason_without_echoing_the_input(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    body = {"email": "not-an-email", "form": "contact", "occurred_at": "2026-11-23T10:00:00"}
    response = await http.post(f"{stack_urls.ingest}/v1/events/form", json=body, headers=JSON_HEADERS)
    assert response.status_code == 422
    assert {e["path"] for e in response.json()["errors"]} == {"body/email", "body/occurred_at"}
    assert "not-an-email" not in response.text


async def test_an_unsigned_behaviour_webhook_is_401(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    body = {"email": person()["email"], "type": "email_open"}
    response = await http.post(f"{stack_urls.ingest}/v1/events/behavior", json=body)
    assert response.status_code == 401


async def test_a_behaviour_webhook_signed_ten_minutes_ago_is_401(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    raw = orjson.dumps({"email": person()["email"], "type": "email_open"})
    headers = signed_headers(WEBHOOK_SECRET, int(time.time()) - 600, raw)
    response = await http.post(f"{stack_urls.ingest}/v1/events/behavior", content=raw, headers=headers)
    assert (response.status_code, response.json()["error"]) == (401, "stale_timestamp")


def _unique_mautic_form(email: str) -> bytes:
    delivery = orjson.loads((FIXTURES / "mautic" / "form_on_submit.json").read_bytes())
    item = delivery["mautic.form_on_submit"][0]
    item["submission"]["results"]["email"] = email
    item["submission"]["id"] = uuid.uuid4().int % 10**9
    return orjson.dumps(delivery)


async def test_a_signed_mautic_delivery_is_accepted_once_and_its_redelivery_is_a_duplicate(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    email = person()["email"]
    raw = _unique_mautic_form(email)
    first = await http.post(f"{stack_urls.ingest}/v1/webhooks/mautic", content=raw, headers=mautic_headers(raw))
    again = await http.post(f"{stack_urls.ingest}/v1/webhooks/mautic", content=raw, headers=mautic_headers(raw))
    assert (first.status_code, first.json()["accepted"], first.json()["results"][0]["lead_id"]) == (
        202,
        1,
        lead_id_for(email),
    )
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 1)


async def test_a_mautic_delivery_signed_with_another_secret_is_401(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    raw = _unique_mautic_form(person()["email"])
    response = await http.post(
        f"{stack_urls.ingest}/v1/webhooks/mautic", content=raw, headers=mautic_headers(raw, secret="wrong")
    )
    assert (response.status_code, response.json()["error"]) == (401, "invalid_signature")


async def test_a_hubspot_demo_request_reaches_scoring_for_the_contact_named_in_the_same_delivery(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given HubSpot's delivery (golden shape) for a new contact: email set, a demo form converted, an email opened
    events = copy.deepcopy(orjson.loads((FIXTURES / "hubspot" / "contact_events.json").read_bytes()))
    email, object_id = person()["email"], uuid.uuid4().int % 10**12
    for event in events:
        event["eventId"] = uuid.uuid4().int % 10**15
        if event["objectId"] == 1246965:
            event["objectId"] = object_id
        if event.get("propertyName") == "email":
            event["propertyValue"] = email
    raw = orjson.dumps(events)
    url = f"{stack_urls.ingest}/v1/webhooks/hubspot"
    # When it is posted with a v3 signature
    response = await http.post(url, content=raw, headers=hubspot_headers(url, raw))
    # Then the form and the open are accepted for the contact's lead, and scoring sees the demo request
    assert response.status_code == 202
    assert response.json()["accepted"] == 2

    async def scored() -> dict[str, Any] | None:
        answer = await http.get(f"{stack_urls.scoring}/v1/leads/{lead_id_for(email)}/score")
        lead = answer.json() if answer.status_code == 200 else None
        return lead if lead and any(r["rule"] == "intent.demo_request" for r in lead["reasons"]) else None

    await eventually(scored)


async def test_a_hubspot_delivery_with_a_stale_timestamp_is_401(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    url = f"{stack_urls.ingest}/v1/webhooks/hubspot"
    headers = hubspot_headers(url, b"[]", at_ms=int((time.time() - 600) * 1000))
    response = await http.post(url, content=b"[]", headers=headers)
    assert (response.status_code, response.json()["error"]) == (401, "stale_timestamp")


async def test_a_badge_list_import_accepts_good_rows_and_reports_bad_ones(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    show = f"Expo {uuid.uuid4().hex[:8]}"
    response = await http.post(
        f"{stack_urls.ingest}/v1/imports/tradeshow",
        params={"show": show},
        content=(FIXTURES / "csv" / "badges_ja.csv").read_bytes(),
        headers={"X-API-Key": API_KEY, "content-type": "text/csv"},
    )
    body = response.json()
    assert (response.status_code, body["rows"], body["accepted"], body["rejected"]) == (200, 4, 3, 1)
    assert body["errors"] == [{"row": 4, "errors": [{"path": "email", "reason": "Value error, not an email address"}]}]


async def test_the_same_badge_list_uploaded_twice_counts_its_rows_once(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    show = f"Expo {uuid.uuid4().hex[:8]}"
    files = {"file": ("badges.csv", (FIXTURES / "csv" / "badges_sjis.csv").read_bytes(), "text/csv")}
    url = f"{stack_urls.ingest}/v1/imports/tradeshow"
    await http.post(url, params={"show": show}, files=files, headers={"X-API-Key": API_KEY})
    again = (await http.post(url, params={"show": show}, files=files, headers={"X-API-Key": API_KEY})).json()
    assert (again["accepted"], again["duplicates"]) == (0, 1)


async def test_a_csv_without_an_email_column_is_422(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    response = await http.post(
        f"{stack_urls.ingest}/v1/imports/tradeshow",
        params={"show": "Expo"},
        content=b"name,company\nA,B\n",
        headers={"X-API-Key": API_KEY, "content-type": "text/csv"},
    )
    assert response.status_code == 422


def test_the_cli_uploads_a_badge_list_and_prints_the_rejected_lines(stack_urls: StackUrls) -> None:
    out = io.StringIO()
    status, body = upload_tradeshow(
        stack_urls.ingest, FIXTURES / "csv" / "badges_ja.csv", f"CLI Expo {uuid.uuid4().hex[:8]}", API_KEY, out
    )
    code = report(status, body, out)
    assert code == 1
    assert "3 accepted" in out.getvalue()
    assert "line 4: email" in out.getvalue()
