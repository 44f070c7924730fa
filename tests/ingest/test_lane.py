"""The event lane (services/ingest/lane.py) answers exactly as FastAPI's routes do, and does answer."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx
import orjson
import pytest

from services.ingest import api, lane
from services.ingest.settings import get_settings
from shared.signatures import signed_headers
from tests.ingest.helpers import JSON_HEADERS, WEBHOOK_SECRET, ingest_in_process

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("stack_urls")]

Case = tuple[str, str, dict[str, str], bytes]
# What the comparison reads of an answer besides its status and JSON body.
COMPARED_HEADERS = ("content-type", "retry-after", "idempotent-replayed", "vary")


def _cases() -> list[Case]:
    tag = uuid.uuid4().hex[:10]
    person = {"email": f"lane.{tag}@corp-{tag}.example.com", "name": "Lane Tester", "company": "Lane KK"}
    form = orjson.dumps({**person, "form": "demo_request", "event_id": f"lane-{tag}"})
    behavior = orjson.dumps({**person, "type": "page_view", "url": "https://acme.example/pricing",
                             "event_id": f"lane-b-{tag}"})  # fmt: skip
    bad_behavior = orjson.dumps({**person, "type": "teleport"})
    batch = orjson.dumps({"events": [
        {"channel": "form", "event": {**person, "form": "contact", "event_id": f"lane-c-{tag}"}},
        {"channel": "form", "event": {"email": "not an email", "form": "contact"}},
        {"channel": "carrier_pigeon", "event": {}},
    ]})  # fmt: skip
    stamp = int(time.time())
    no_key = {"content-type": "application/json"}
    wrong_key = {"content-type": "application/json", "X-API-Key": "not-a-key"}
    return [
        ("a valid form", "/v1/events/form", JSON_HEADERS, form),
        ("a form under a vendor +json type", "/v1/events/form",
         {**JSON_HEADERS, "content-type": "application/vnd.acme+json; charset=utf-8"}, form),
        ("a +json type that is not application/*", "/v1/events/form",
         {**JSON_HEADERS, "content-type": "text/x+json"}, form),
        ("a honeypot filled", "/v1/events/form", JSON_HEADERS,
         orjson.dumps({**person, "form": "contact", "website_url": "http://spam.example"})),
        ("broken JSON", "/v1/events/form", JSON_HEADERS, b'{"email": "a@b.example", '),
        ("broken JSON without a key (the syntax error comes first)", "/v1/events/form", no_key, b"{"),
        ("an empty body", "/v1/events/form", JSON_HEADERS, b""),
        ("JSON null", "/v1/events/form", JSON_HEADERS, b"null"),
        ("a JSON array", "/v1/events/form", JSON_HEADERS, b"[]"),
        ("bytes that are not UTF-8", "/v1/events/form", JSON_HEADERS, b'{"email": "\xff\xfe"}'),
        ("bad fields", "/v1/events/form", JSON_HEADERS,
         orjson.dumps({"email": "nobody", "form": "telepathy", "employees": -3})),
        ("no API key", "/v1/events/form", no_key, form),
        ("a wrong API key with a bad body (the key is checked first)", "/v1/events/webinar", wrong_key, b"{}"),
        ("a webinar without its webinar and action", "/v1/events/webinar", JSON_HEADERS,
         orjson.dumps({**person, "kind": "sleeping"})),
        ("a trade-show scan without its show", "/v1/events/tradeshow", JSON_HEADERS, orjson.dumps(person)),
        ("a webinar attendance", "/v1/events/webinar", JSON_HEADERS,
         orjson.dumps({**person, "webinar": "Lead routing 101", "action": "attended", "event_id": f"lane-w-{tag}"})),
        ("a trade-show scan", "/v1/events/tradeshow", JSON_HEADERS,
         orjson.dumps({**person, "show": "Expo 2026", "rating": "hot", "event_id": f"lane-t-{tag}"})),
        ("feedback on a lead", "/v1/events/feedback", JSON_HEADERS,
         orjson.dumps({"email": person["email"], "action": "contacted", "event_id": f"lane-f-{tag}"})),
        ("feedback naming no lead", "/v1/events/feedback", JSON_HEADERS, orjson.dumps({"action": "won"})),
        ("feedback without its action", "/v1/events/feedback", JSON_HEADERS, orjson.dumps({"outcome": "won"})),
        ("a signed behaviour webhook", "/v1/events/behavior",
         {"content-type": "application/json", **signed_headers(WEBHOOK_SECRET, stamp, behavior)}, behavior),
        ("a signed behaviour webhook with a bad action", "/v1/events/behavior",
         {"content-type": "application/json", **signed_headers(WEBHOOK_SECRET, stamp, bad_behavior)}, bad_behavior),
        ("an unsigned behaviour webhook", "/v1/events/behavior", JSON_HEADERS, behavior),
        ("a mixed batch", "/v1/events/batch", JSON_HEADERS, batch),
        ("a batch that is not a list", "/v1/events/batch", JSON_HEADERS, b'{"events": 3}'),
        ("a malformed Idempotency-Key", "/v1/events/form", {**JSON_HEADERS, "Idempotency-Key": "two words"}, form),
    ]  # fmt: skip


def _answer(response: httpx.Response) -> dict[str, Any]:
    return {
        "status": response.status_code,
        "body": response.json() if response.content else None,
        **{name: response.headers.get(name) for name in COMPARED_HEADERS},
    }


async def test_every_event_route_has_the_shape_the_lane_takes() -> None:
    # Given the event routes of api.py
    posted = {route.path for route in api.router.routes if "POST" in getattr(route, "methods", ())}
    # Then the lane takes every one of them: a route that stopped fitting its shape would quietly lose it
    assert set(lane.lane_routes(api.router.routes)) == posted


async def test_the_lane_answers_every_request_exactly_as_fastapi_does(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given one ingest instance, its requests counted where the lane answers them
    answered: list[str] = []
    original = lane.LaneRoute.answer

    async def counted(self: lane.LaneRoute, request: Any) -> Any:
        answered.append(self.route.path)
        return await original(self, request)

    monkeypatch.setattr(lane.LaneRoute, "answer", counted)
    async with ingest_in_process({}) as (_, client):
        for name, path, headers, body in _cases():
            # When the same request goes through FastAPI's routing and then through the lane
            get_settings().event_lane = False
            by_fastapi = _answer(await client.post(path, content=body, headers=headers))
            get_settings().event_lane = True
            before = len(answered)
            by_lane = _answer(await client.post(path, content=body, headers=headers))
            # Then the lane answered it, with the same status, body and headers
            assert len(answered) == before + 1, name
            assert by_lane == by_fastapi, name


async def _webinar_422s(client: httpx.AsyncClient) -> float:
    text = (await client.get("/metrics")).text
    pattern = re.compile(r"^leadflow_http_requests_total\{([^}]*)\} (\S+)$", re.M)
    wanted = ('route="/v1/events/webinar"', 'method="POST"', 'status="422"')
    return sum(float(v) for labels, v in pattern.findall(text) if all(w in labels for w in wanted))


async def test_the_lanes_answers_are_counted_under_their_route_template() -> None:
    # Given an ingest instance with the lane on
    async with ingest_in_process({}) as (_, client):
        assert get_settings().event_lane
        before = await _webinar_422s(client)
        # When an event is refused for its body
        refused = await client.post("/v1/events/webinar", content=b"{}", headers=JSON_HEADERS)
        # Then the request metrics count it under the route's template and its status
        assert refused.status_code == 422
        assert await _webinar_422s(client) == before + 1


async def _status_when_the_client_leaves_mid_body(app: Any) -> int:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/v1/events/form", "raw_path": b"/v1/events/form", "root_path": "", "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"64"),
                    (b"x-api-key", JSON_HEADERS["X-API-Key"].encode())],
        "client": ("198.51.100.7", 40000), "server": ("ingest.test", 80),
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(next(m["status"] for m in sent if m["type"] == "http.response.start"))


async def test_a_client_gone_mid_body_gets_the_same_answer_from_the_lane() -> None:
    # Given an ingest instance, and a client that leaves before sending the body it announced
    async with ingest_in_process({}) as (app, _):
        # When the request goes through FastAPI's routing and then through the lane
        get_settings().event_lane = False
        by_fastapi = await _status_when_the_client_leaves_mid_body(app)
        get_settings().event_lane = True
        by_lane = await _status_when_the_client_leaves_mid_body(app)
    # Then both answer 400 (the body could not be read), never a 500
    assert by_fastapi == by_lane == 400
