"""schemathesis against every service's OpenAPI document: whatever it generates, nothing answers 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Err

from tests.conftest import StackUrls
from tests.e2e.helpers import API_KEY

pytestmark = pytest.mark.integration

# Enough cases per operation to hit each field's edges (empty, huge, wrong type, odd Unicode), few enough to
# keep all four services to well under a minute together.
FUZZ = settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
# With the key, ingest's bodies are validated rather than refused at the door, which is where a 500 would hide.
HEADERS = {"X-API-Key": API_KEY}
# /metrics answers Prometheus text and /readyz 503 while a dependency is away: neither is about input.
NOT_ABOUT_INPUT = {"GET /metrics", "GET /readyz"}


def _server_errors(base_url: str) -> list[str]:
    """Every operation of one service, fuzzed; returns the first 5xx of each operation that had one."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(f"the OpenAPI document is invalid: {result.err()}")
        elif result.ok().label not in NOT_ABOUT_INPUT:
            failures += _fuzz_one(result.ok(), base_url)
    return failures


def _fuzz_one(operation: Any, base_url: str) -> list[str]:
    seen: list[str] = []

    @FUZZ
    @given(case=operation.as_strategy())
    def fuzz(case: Any) -> None:
        response = case.call(base_url=base_url, headers=HEADERS, timeout=30)
        if response.status_code >= 500 and not seen:
            seen.append(f"{case.method} {case.formatted_path} → {response.status_code}: {response.text[:300]}")

    fuzz()
    return seen


@pytest.mark.parametrize("service", ["ingest", "scoring", "router", "notifier"])
def test_no_generated_request_gets_a_server_error(stack_urls: StackUrls, service: str) -> None:
    # Given the service's own OpenAPI document
    # When schemathesis sends what the document allows, and what it does not (wrong types, missing fields)
    failures = _server_errors(getattr(stack_urls, service))
    # Then every answer is a 2xx, 3xx or a clear 4xx
    assert failures == []
