"""Bodies no client should send: each gets a clear 4xx naming the problem, never a 500 and never a 202."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import StackUrls
from tests.e2e.helpers import API_KEY, unique_person

pytestmark = pytest.mark.integration
JSON = {"X-API-Key": API_KEY, "content-type": "application/json"}


async def _post_raw(http: httpx.AsyncClient, stack_urls: StackUrls, raw: bytes) -> httpx.Response:
    return await http.post(f"{stack_urls.ingest}/v1/events/form", content=raw, headers=JSON)


async def test_a_body_over_the_size_limit_is_refused_with_413(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    # Given a form whose message alone is 300 KiB, over ingest's 256 KiB limit
    import orjson

    raw = orjson.dumps({**unique_person(), "form": "contact", "message": "x" * 300 * 1024})
    # When it is posted
    response = await _post_raw(http, stack_urls, raw)
    # Then ingest refuses it as too large, before reading it
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


async def test_a_truncated_json_body_is_a_validation_error(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    # Given a body cut off mid-string, as a dropped connection leaves it
    raw = b'{"email": "jane@example.com", "form": "demo_req'
    # When it is posted
    response = await _post_raw(http, stack_urls, raw)
    # Then it is a 422 that says the JSON is invalid
    assert response.status_code == 422
    assert response.json()["error"] == "validation_failed"


async def test_a_body_that_is_not_utf8_is_a_validation_error(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    # Given a body in Shift_JIS, not UTF-8, as a legacy form handler might send it
    raw = '{"email": "tanaka@example.co.jp", "name": "田中", "form": "contact"}'.encode("shift_jis")
    # When it is posted
    response = await _post_raw(http, stack_urls, raw)
    # Then it is refused with a 4xx, not stored under a garbled name
    assert 400 <= response.status_code < 500


async def test_deeply_nested_json_is_refused_without_a_server_error(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given 50,000 nested arrays in a field, small in bytes (100 KB) but deep enough to exhaust a recursive parser
    depth = 50_000
    raw = b'{"email": "jane@example.com", "form": "contact", "name": ' + b"[" * depth + b"]" * depth + b"}"
    # When it is posted
    response = await _post_raw(http, stack_urls, raw)
    # Then it is a 4xx
    assert 400 <= response.status_code < 500


async def test_a_body_that_is_not_an_object_is_a_validation_error(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given a JSON array where an object belongs
    response = await _post_raw(http, stack_urls, b'[{"email": "jane@example.com", "form": "contact"}]')
    # Then it is a 422 with the path of the problem
    assert response.status_code == 422
    assert response.json()["errors"]


async def test_duplicate_keys_take_the_last_value_like_every_json_parser(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given a body naming two emails under the same key
    first, last = unique_person(), unique_person()
    raw = (
        b'{"email": "' + first["email"].encode() + b'", "form": "newsletter", '
        b'"email": "' + last["email"].encode() + b'"}'
    )
    # When it is posted
    response = await _post_raw(http, stack_urls, raw)
    # Then one lead is created, the last one named (RFC 8259 leaves it to the parser; the last value is the norm)
    from tests.e2e.helpers import lead_id

    assert response.status_code == 202
    assert response.json()["lead_id"] == lead_id(last)


async def test_a_wrong_content_type_is_refused(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    # Given a JSON body sent as form-urlencoded
    response = await http.post(
        f"{stack_urls.ingest}/v1/events/form",
        content=b'{"email": "jane@example.com", "form": "contact"}',
        headers={"X-API-Key": API_KEY, "content-type": "application/x-www-form-urlencoded"},
    )
    # Then it is a 4xx, not parsed by guesswork
    assert 400 <= response.status_code < 500
