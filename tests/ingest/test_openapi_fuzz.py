"""Schemathesis over ingest's OpenAPI against the running stack: whatever it sends, never a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from services.ingest.app import create_app
from tests.conftest import StackUrls
from tests.ingest.helpers import API_KEY

pytestmark = pytest.mark.integration
# The schema is the app's own (pure: building it starts nothing); the requests go to the stack's ingest.
# Examples and fuzzing only: the exhaustive coverage phase would make this the slowest test of the suite.
_CONFIG = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}}})
schema = schemathesis.openapi.from_dict(create_app().openapi(), config=_CONFIG)


@schema.include(path_regex=r"^/v1/").parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_input_makes_ingest_answer_5xx(case: schemathesis.Case, stack_urls: StackUrls) -> None:
    response = case.call(base_url=stack_urls.ingest, headers={"X-API-Key": API_KEY}, timeout=15)
    assert response.status_code < 500, f"{case.method} {case.path} -> {response.status_code}: {response.text[:300]}"
